"""Ray's known-spurious C++ log line is dropped from stderr; everything else passes at once and unchanged."""

from rayedit.cluster.stderr_filter import LineFilter

SPURIOUS_LINE = (b"[2026-12-03 13:59:54,645 E 19393 19393] core_worker.cc:2465: Actor with class name: 'MapWorker("
                 b"MapBatches(EditActor))' and ID: 'eab6' has constructor arguments in the object store and "
                 b"max_restarts > 0. If the arguments ...\n")
REAL_ERROR = b"[2026-12-03 14:00:00,000 E 1 1] raylet.cc:1: a real error\n"


def test_the_spurious_line_is_dropped_even_mid_line_and_split_and_the_rest_passes_at_once():
    written = []
    f = LineFilter(written.append)
    f.feed(b"\rsamples: 0img [00:00, ?img/s]")
    assert written == [b"\rsamples: 0img [00:00, ?img/s]"]  # a progress bar is not held back
    for cut in (3, 40):  # Ray's line right after the bar's text, split across reads
        f.feed(SPURIOUS_LINE[:cut])
        f.feed(SPURIOUS_LINE[cut:])
    f.feed(b"\rsamples: 50img [00:30, 1.6img/s]" + REAL_ERROR + b"Traceback (most")
    f.feed(b" recent call last):\n")
    f.close()
    out = b"".join(written)
    assert b"constructor arguments" not in out
    assert out == (b"\rsamples: 0img [00:00, ?img/s]\rsamples: 50img [00:30, 1.6img/s]" + REAL_ERROR
                   + b"Traceback (most recent call last):\n")


def test_an_unfinished_ray_line_is_written_on_close():
    written = []
    f = LineFilter(written.append)
    f.feed(b"[2026-12-03 14:00")
    assert written == []
    f.close()
    assert written == [b"[2026-12-03 14:00"]


def test_a_forwarded_teardown_line_goes_with_its_process_tag():
    written = []
    f = LineFilter(written.append)
    error = b"rayedit: error: JobStalled: no batch edited, written or committed for 0.25 min\n"
    teardown = (b"\x1b[36m(pid=gcs_server)\x1b[0m [2026-12-05 07:32:59,666 E 17682 17682] (gcs_server) "
                b"gcs_actor_scheduler.cc:538: Failed to kill actor d94d, return status: Invalid: KillActor RPC "
                b"failed for actor d94d: RpcError: RPC error: Socket closed rpc_code: 14\n")
    real = b"\x1b[33m(raylet)\x1b[0m " + REAL_ERROR
    f.feed(error + teardown[:30])
    f.feed(teardown[30:] + real)
    f.close()
    assert b"".join(written) == error + real  # the tag of a kept line stays with it
