"""Event histories for tests and benchmarks, built on the contract's golden examples.

One factory for every test and bench that needs a job's events (`JobHistory`) or an upload's
(`IngestHistory`): each event starts from the golden example of its type at its current
version (`golden`), so a history can never drift from the contract, and the envelope (ids,
seqs, event ids, times) is filled in the way the services fill it.
"""

from dicompress_schemas.histories.base import Moment
from dicompress_schemas.histories.ingests import IngestHistory
from dicompress_schemas.histories.jobs import JobHistory

__all__ = ["IngestHistory", "JobHistory", "Moment"]
