"""Part planning: within S3's limits (10,000 parts, 5 MiB minimum but for the last, 5 GiB max)."""

import pytest

from dicompress_api.uploads.parts import (
    MAX_PARTS,
    MIB,
    MIN_PART_BYTES,
    PartPlan,
    check_parts,
    plan_parts,
)


def test_the_preferred_part_size_is_used_when_it_fits() -> None:
    plan = plan_parts(200 * MIB + 7, 16 * MIB)
    assert (plan.part_size, plan.count) == (16 * MIB, 13)
    assert [plan.part_bytes(n) for n in (1, 12, 13)] == [16 * MIB, 16 * MIB, 8 * MIB + 7]
    assert sum(plan.part_bytes(n) for n in plan.numbers()) == plan.size


def test_small_uploads_are_one_part() -> None:
    assert plan_parts(1, 16 * MIB).count == 1
    plan = plan_parts(5 * MIB, 5 * MIB)
    assert (plan.count, plan.part_bytes(1)) == (1, 5 * MIB)


def test_a_part_size_under_s3s_minimum_is_raised() -> None:
    assert plan_parts(100 * MIB, 1024).part_size == MIN_PART_BYTES


@pytest.mark.parametrize("size", [16 * MIB * MAX_PARTS + 1, 1024**4, 5 * 1024**4])
def test_huge_uploads_get_bigger_parts_in_whole_mib(size: int) -> None:
    plan = plan_parts(size, 16 * MIB)
    assert plan.count <= MAX_PARTS
    assert plan.part_size % MIB == 0
    assert plan_parts(size, 16 * MIB).part_size > 16 * MIB


def test_exactly_max_parts_keeps_the_preferred_size() -> None:
    plan = plan_parts(16 * MIB * MAX_PARTS, 16 * MIB)
    assert (plan.part_size, plan.count) == (16 * MIB, MAX_PARTS)


def test_nothing_to_upload_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one byte"):
        plan_parts(0, 16 * MIB)


def test_part_numbers_outside_the_plan_have_no_size() -> None:
    with pytest.raises(ValueError, match="outside"):
        PartPlan(10, 5 * MIB).part_bytes(2)


def test_check_names_missing_wrong_sized_and_unexpected_parts() -> None:
    plan = PartPlan(12 * MIB, 5 * MIB)  # 5 + 5 + 2
    check = check_parts(plan, {1: 5 * MIB, 3: 1 * MIB, 4: 7})
    assert (check.missing, check.wrong_size, check.unexpected) == ((2,), (3,), (4,))
    assert not check.complete
    assert check_parts(plan, {1: 5 * MIB, 2: 5 * MIB, 3: 2 * MIB}).complete
    # a part past the plan does not stop completion: it is left out of the object
    assert check_parts(plan, {1: 5 * MIB, 2: 5 * MIB, 3: 2 * MIB, 9: 1}).complete
