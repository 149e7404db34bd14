from pathlib import Path

import pytest

from edgejudge.backends.llama import hardware
from edgejudge.errors import UsageError

XEON = "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum 8480+\nflags\t\t: fpu avx2 avx512f amx_bf16 amx_tile amx_int8\n"
EPYC = "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx avx2 fma\n"
ARM = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes sve i8mm\n"
AMX_BUILD = "CPU : SSE3 = 1 | AVX2 = 1 | AVX512 = 1 | AMX_INT8 = 1 | REPACK = 1 |"
PLAIN_BUILD = "CPU : SSE3 = 1 | AVX2 = 1 | REPACK = 1 |"


def test_cpu_flags_parse_x86_and_arm():
    assert {"amx_tile", "amx_int8", "avx512f"} <= hardware.cpu_flags(XEON)
    assert "sve" in hardware.cpu_flags(ARM)
    assert hardware.cpu_flags("no flags here") == frozenset()
    assert hardware.cpu_model(XEON).startswith("Intel(R) Xeon")


def test_amx_cpu_with_amx_build_turns_repacking_off():
    decision = hardware.decide_extra_bufts(hardware.cpu_flags(XEON), AMX_BUILD, None)
    assert decision.enabled is False
    assert "amx" in decision.reason.lower() and decision.source == "auto"


def test_amx_cpu_with_unknown_build_is_treated_as_unsafe():
    assert hardware.decide_extra_bufts(hardware.cpu_flags(XEON), "", None).enabled is False


def test_amx_cpu_without_amx_kernels_keeps_repacking():
    decision = hardware.decide_extra_bufts(hardware.cpu_flags(XEON), PLAIN_BUILD, None)
    assert decision.enabled is True and "no AMX kernels" in decision.reason


def test_cpu_without_amx_keeps_repacking():
    assert hardware.decide_extra_bufts(hardware.cpu_flags(EPYC), AMX_BUILD, None).enabled is True


@pytest.mark.parametrize("override", [True, False])
def test_user_override_wins(override):
    decision = hardware.decide_extra_bufts(hardware.cpu_flags(XEON), AMX_BUILD, override)
    assert decision.enabled is override and decision.source == "override"


def test_cgroup_v2_quota(tmp_path: Path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert hardware.cgroup_cpu_limit(tmp_path) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert hardware.cgroup_cpu_limit(tmp_path) is None


def test_cgroup_v1_quota(tmp_path: Path):
    v1 = tmp_path / "cpu"
    v1.mkdir()
    (v1 / "cpu.cfs_quota_us").write_text("200000")
    (v1 / "cpu.cfs_period_us").write_text("100000")
    assert hardware.cgroup_cpu_limit(tmp_path) == 2.0
    (v1 / "cpu.cfs_quota_us").write_text("-1")
    assert hardware.cgroup_cpu_limit(tmp_path) is None


def test_no_cgroup_files_means_no_quota(tmp_path: Path):
    assert hardware.cgroup_cpu_limit(tmp_path) is None


def test_threads_are_capped_by_quota_not_host_cpus():
    assert hardware.usable_threads(affinity=64, quota=2.0) == 2
    assert hardware.usable_threads(affinity=64, quota=1.5) == 2
    assert hardware.usable_threads(affinity=4, quota=None) == 4
    assert hardware.usable_threads(affinity=4, quota=16.0) == 4
    assert hardware.usable_threads(affinity=8, quota=0.2) == 1


def test_env_flag(monkeypatch):
    monkeypatch.setenv("EJ_TEST_FLAG", "0")
    assert hardware.env_flag("EJ_TEST_FLAG") is False
    monkeypatch.setenv("EJ_TEST_FLAG", "yes")
    assert hardware.env_flag("EJ_TEST_FLAG") is True
    monkeypatch.delenv("EJ_TEST_FLAG")
    assert hardware.env_flag("EJ_TEST_FLAG") is None
    monkeypatch.setenv("EJ_TEST_FLAG", "maybe")
    with pytest.raises(UsageError):
        hardware.env_flag("EJ_TEST_FLAG")
