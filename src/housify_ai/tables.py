"""piccolo tables of housify-ai."""

from piccolo.columns import BigInt, Float, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table


class InferenceRun(Table, tablename="ai_inference_run"):
    """One inference run of a worker (docs/ai-server.md): what ran, where, how long, how it ended.

    ``seconds`` is pipeline time only (not queue wait); ``peak_memory_bytes`` is
    CUDA's peak allocation on GPU, the process's resident high-water mark on CPU.
    ``outcome`` is ``succeeded``, ``failed`` or ``cancelled``.
    """

    job_id = Varchar(length=64, index=True)
    model = Varchar(length=255)
    task = Varchar(length=16)
    width = Integer()
    height = Integer()
    steps = Integer()
    device = Varchar(length=32)
    dtype = Varchar(length=16)
    seconds = Float()
    peak_memory_bytes = BigInt()
    outcome = Varchar(length=16)
    error = Text(default="")
    worker = Varchar(length=128)
    created_at = Timestamptz()
