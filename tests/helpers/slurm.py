"""A throwaway one-node SLURM cluster in a folder: munged, slurmctld and slurmd started from the
installed binaries (Debian's slurm-wlm and munge), on loopback ports, with every state, spool, pid,
log and socket file inside that folder, and stopped again. Nothing is installed or written elsewhere.

The node has this machine's CPUs and memory (as `slurmd -C` reports them) and one fake GPU
(gres.conf `File=/dev/null`), so that GPU requests schedule; partitions `cpu` (default) and `gpu`,
as profiles/slurm names them. No cgroups (proctrack/linuxproc, task/none) and no accounting (no
slurmdbd): the setting in which the plugin's default status command, sacct, fails.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "srun", "squeue", "scontrol", "scancel", "sinfo")
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin", "/usr/local/sbin"])
HOW_TO_ENABLE = ("install Debian's slurm-wlm and munge (apt-get install -y slurm-wlm munge, as .ci/run does) "
                 "and the slurm extra (pip install -e '.[slurm]'), then run the tests as root")


def missing() -> str | None:
    """Why a cluster cannot be started here (None: it can)."""
    absent = [tool for tool in (*DAEMONS, *CLIENTS) if shutil.which(tool, path=SEARCH_PATH) is None]
    if absent:
        return f"no {', '.join(absent)} on this machine"
    if os.geteuid() != 0:
        return "slurmd runs jobs only when started as root"
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        return "snakemake-executor-plugin-slurm is not installed"
    return None


def _free_ports(n: int) -> list[int]:
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _node_hardware() -> dict[str, int]:
    """This machine as slurmd sees it: CPUs, sockets, cores, threads, memory (MB)."""
    out = subprocess.run([shutil.which("slurmd", path=SEARCH_PATH), "-C"], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    fields = dict(re.findall(r"(\w+)=(\S+)", out.splitlines()[0]))
    return {k: int(fields[k]) for k in ("CPUs", "Boards", "SocketsPerBoard", "CoresPerSocket",
                                        "ThreadsPerCore", "RealMemory")}


class Cluster:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.procs: dict[str, subprocess.Popen] = {}
        self.node = socket.gethostname().split(".")[0]
        self.hardware = _node_hardware()
        self.cpus = self.hardware["CPUs"]
        # Leave the system some memory: SLURM then never over-commits the machine.
        self.memory_mb = int(self.hardware["RealMemory"] * 0.8)
        self.ctld_port, self.slurmd_port = _free_ports(2)
        self.conf = self.root / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf),
                    "PATH": os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])}

    # --- setup -------------------------------------------------------------------------------
    def _write_config(self) -> None:
        r = self.root
        for sub in ("state", "spool", "munge", "log"):
            (r / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        hw = self.hardware
        self.conf.write_text(f"""\
ClusterName=hsttest
SlurmctldHost={self.node}(127.0.0.1)
SlurmctldPort={self.ctld_port}
SlurmdPort={self.slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={r}/munge/munge.socket
StateSaveLocation={r}/state
SlurmdSpoolDir={r}/spool
SlurmctldPidFile={r}/slurmctld.pid
SlurmdPidFile={r}/slurmd.pid
SlurmctldLogFile={r}/log/slurmctld.log
SlurmdLogFile={r}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
MinJobAge=300
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName={self.node} NodeAddr=127.0.0.1 CPUs={hw['CPUs']} Boards={hw['Boards']} SocketsPerBoard={hw['SocketsPerBoard']} CoresPerSocket={hw['CoresPerSocket']} ThreadsPerCore={hw['ThreadsPerCore']} RealMemory={self.memory_mb} Gres=gpu:1 State=UNKNOWN
PartitionName=cpu Nodes={self.node} Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes={self.node} MaxTime=INFINITE State=UP
""")
        (r / "gres.conf").write_text(f"AutoDetect=off\nNodeName={self.node} Name=gpu File=/dev/null\n")
        # The plugin's job step runs `srun` with every SLURM_* variable but the job's identity
        # removed (snakemake-executor-plugin-slurm-jobstep), SLURM_CONF too: srun then looks for
        # /etc/slurm/slurm.conf, where a real cluster has it. This cluster's is here, so its jobs
        # find an `srun` first on PATH that passes it on.
        (r / "bin").mkdir(exist_ok=True)
        shim = r / "bin" / "srun"
        shim.write_text(f'#!/bin/sh\nSLURM_CONF={self.conf} exec {shutil.which("srun", path=SEARCH_PATH)} "$@"\n')
        shim.chmod(0o755)
        key = r / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)

    def _spawn(self, name: str, args: list[str]) -> None:
        log = open(self.root / "log" / f"{name}.out", "ab")
        exe = shutil.which(name, path=SEARCH_PATH)
        self.procs[name] = subprocess.Popen([exe, *args], stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                            start_new_session=True)
        log.close()

    def _wait(self, what: str, ok, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited ({proc.returncode}) while waiting for {what}:\n{self.logs()}")
            if ok():
                return
            time.sleep(0.5)
        raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}:\n{self.logs()}")

    def client_env(self, base: dict[str, str]) -> dict[str, str]:
        """`base` for a SLURM client (sbatch, squeue, snakemake's plugin) of this cluster."""
        return {**base, "SLURM_CONF": str(self.conf),
                "PATH": os.pathsep.join([str(self.root / "bin"), base.get("PATH", ""), "/usr/sbin", "/sbin"])}

    def run(self, *cmd: str, timeout: float = 30, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(list(cmd), capture_output=True, text=True, env=self.env, timeout=timeout, check=check)

    def start(self, timeout: float = 90) -> "Cluster":
        self._write_config()
        m = self.root / "munge"
        self._spawn("munged", ["--foreground", "--force", f"--key-file={m}/munge.key", f"--socket={m}/munge.socket",
                               f"--pid-file={m}/munged.pid", f"--log-file={m}/munged.log", f"--seed-file={m}/munged.seed"])
        self._wait("munged's socket", lambda: (m / "munge.socket").exists(), timeout)
        self._spawn("slurmctld", ["-D", "-c", "-i", "-f", str(self.conf)])
        self._wait("slurmctld", lambda: self.run("scontrol", "ping", check=False).stdout.count("UP") > 0, timeout)
        self._spawn("slurmd", ["-D", "-f", str(self.conf), "-N", self.node])

        def idle() -> bool:
            state = self.run("sinfo", "-h", "-N", "-o", "%T", check=False).stdout.split()
            return bool(state) and all(s.rstrip("*") in ("idle", "mixed", "allocated") for s in state)
        self._wait(f"node {self.node} to be idle", idle, timeout)
        return self

    # --- teardown ----------------------------------------------------------------------------
    def stop(self, timeout: float = 30) -> None:
        """Cancel this cluster's jobs, stop the daemons this object started (SIGTERM, then SIGKILL)."""
        if self.procs.get("slurmctld") and self.procs["slurmctld"].poll() is None:
            try:
                self.run("scancel", "--user", str(os.getuid()), check=False, timeout=15)
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline and self.run("squeue", "-h", check=False, timeout=15).stdout.strip():
                    time.sleep(0.5)
            except subprocess.TimeoutExpired:
                pass
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self.procs.get(name)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=timeout)

    def running(self) -> list[str]:
        return [name for name, proc in self.procs.items() if proc.poll() is None]

    def logs(self, tail: int = 1500) -> str:
        out = []
        for path in sorted((self.root / "log").glob("*")) + [self.root / "munge" / "munged.log"]:
            if path.exists():
                out.append(f"--- {path.name}:\n{path.read_text(errors='replace')[-tail:]}")
        return "\n".join(out)
