"""Who holds which partition: a consumer group's members and their assignment, as the broker's
group coordinator reports it (DescribeGroups through aiokafka's admin client)."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment


async def group_assignment(bootstrap: str, group_id: str, topic: str) -> dict[str, set[int]]:
    """The partitions of `topic` each member holds, by member id; empty unless the group is
    Stable (mid-rebalance the assignment is not settled)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    await admin.start()
    try:
        [response] = await admin.describe_consumer_groups([group_id])
    finally:
        await admin.close()
    # groups: (error_code, group_id, state, protocol_type, protocol, members, ...)
    [group] = response.groups
    if group[2] != "Stable":
        return {}
    held: dict[str, set[int]] = {}
    for member in group[
        5
    ]:  # (member_id, [group_instance_id,] client_id, host, metadata, assignment)
        decoded = ConsumerProtocolMemberAssignment.decode(member[-1])
        held[member[0]] = {
            partition
            for name, partitions in decoded.assignment
            if name == topic
            for partition in partitions
        }
    return held


def spread(held: dict[str, set[int]], members: int, partitions: int) -> bool:
    """Whether `members` members share all `partitions` partitions, each holding at least one
    and as even as the range assignor makes it (sizes differ by at most one), none twice."""
    sizes = [len(p) for p in held.values()]
    every = [p for ps in held.values() for p in ps]
    return (
        len(held) == members
        and sorted(every) == list(range(partitions))
        and min(sizes, default=0) >= 1
        and max(sizes) - min(sizes) <= 1
    )
