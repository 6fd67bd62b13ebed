"""ONNX Runtime options of the served models: one thread per call by default, no spinning when more."""

from __future__ import annotations

from serving.runtime import session_options
from serving.settings import Settings

SPINNING = "session.intra_op.allow_spinning"


def test_one_intra_op_thread_by_default() -> None:
    options = session_options(Settings())
    assert options.intra_op_num_threads == 1 and options.inter_op_num_threads == 1


def test_more_intra_op_threads_do_not_spin() -> None:
    options = session_options(Settings(intra_op_threads=2))
    assert options.intra_op_num_threads == 2
    assert options.get_session_config_entry(SPINNING) == "0"
