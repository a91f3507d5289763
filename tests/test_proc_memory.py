"""The benchmark's per-process memory verdict: what the 10-minute run of issue 12 reports for each process."""

import os

from benchmarks.proc_memory import ProcessSampler, Series, Usage, usage


def _sampler(per_minute: dict[str, list[float]]) -> ProcessSampler:
    s = ProcessSampler(dict)
    for role, values in per_minute.items():
        for minute, mb in enumerate(values):
            for k in range(6):  # every 10 s
                s.series.setdefault(role, Series()).samples.append(
                    (minute * 60 + k * 10.0, 100, Usage(mb + 50, mb, float(minute))))
    return s


def test_a_process_that_grows_is_named_and_a_flat_one_passes():
    s = _sampler({"inference": [170, 176, 178, 180, 183, 186, 190], "cam0": [49, 49.7, 49.8, 49.9, 50, 50, 50]})
    verdict, second, last = s.flat("inference")
    assert verdict == "GREW" and second == 176 and 189 < last <= 190  # +8 %: over the 5 % the issue allows
    assert s.flat("cam0")[0] == "flat"
    lines = "\n".join(s.report("run"))
    assert "GREW" in lines and "inference" in lines and "USS" in lines


def test_a_run_too_short_for_a_verdict_says_so_instead_of_passing():
    s = _sampler({"main": [100, 100]})
    assert s.flat("main")[0].startswith("n/a")


def test_this_process_can_be_measured_on_this_os():
    u = usage(os.getpid())
    assert u is not None and u.rss_mb > 10 and u.cpu_s is not None and u.cpu_s > 0
