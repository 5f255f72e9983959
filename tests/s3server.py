"""A real S3 server for the tests: Ceph's RADOS Gateway on a one-node cluster on loopback.

The cluster is as small as Ceph allows: one monitor, one OSD that keeps objects in
memory (memstore), pools of size 1, no manager and no authentication inside the
cluster (S3 requests are still signed and checked by radosgw). Every daemon runs in
the foreground as a child of this process and is killed by `S3Server.stop()`, or by
the kernel if this process dies first.

    ensure_installed()
    server = start(tmp_dir)
    try:
        os.environ.update(server.settings())
        ...
    finally:
        server.stop()
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tests.harness import free_port

PACKAGES = ("radosgw", "ceph-mon", "ceph-osd")
COMMANDS = ("ceph", "ceph-mon", "ceph-osd", "monmaptool", "radosgw", "radosgw-admin")
ACCESS_KEY = "studio-test-access"
SECRET_KEY = "studio-test-secret-0123456789abcdef"
BUCKET = "studio-test"
REGION = "us-east-1"
START_TIMEOUT_S = 60.0
INSTALL_TIMEOUT_S = 900.0
MEMSTORE_BYTES = 2 * 1024**3  # a cap, not an allocation: memstore grows with the data
OSD_PORT_SPAN = 50
PR_SET_PDEATHSIG = 1
LIBC = ctypes.CDLL(None, use_errno=True)  # loaded here: a forked child should not dlopen


@dataclass(frozen=True)
class S3Server:
    """A running gateway and the credentials of its one user."""

    endpoint_url: str
    access_key: str
    secret_key: str
    bucket: str
    region: str
    base_dir: Path
    processes: tuple[subprocess.Popen, ...] = field(default=(), repr=False, compare=False)

    def settings(self) -> dict[str, str]:
        """The environment variables studio/settings.py reads to store files in S3."""
        return {
            "S3_BUCKET": self.bucket,
            "S3_ENDPOINT_URL": self.endpoint_url,
            "S3_ACCESS_KEY_ID": self.access_key,
            "S3_SECRET_ACCESS_KEY": self.secret_key,
            "S3_REGION": self.region,
        }

    def stop(self) -> None:
        """Kill every daemon of the cluster and wait until each one is gone."""
        stop_processes(self.processes)


def ensure_installed() -> None:
    """Install Ceph's monitor, OSD and gateway from Debian unless they are there already."""
    if not missing_commands():
        return
    if os.geteuid() != 0:
        raise RuntimeError(f"Ceph is not installed and installing {PACKAGES} needs root")
    if shutil.which("apt-get") is None:
        raise RuntimeError("Ceph is not installed and there is no apt-get to install it")
    # Wait for, rather than fail on, another apt-get holding the lock on a shared machine.
    wait = ["-o", "DPkg::Lock::Timeout=300"]
    install = ["apt-get", *wait, "install", "-y", "-q", "--no-install-recommends", *PACKAGES]
    if apt_get(install).returncode != 0:
        # The package lists may be stale or absent (a fresh image): refresh once, retry.
        apt_get(["apt-get", *wait, "update", "-q"])
        result = apt_get(install)
        if result.returncode != 0:
            raise RuntimeError(f"apt-get could not install {PACKAGES}:\n{tail(result.stdout)}")
    if missing := missing_commands():
        raise RuntimeError(f"after installing {PACKAGES}, still missing: {missing}")


def missing_commands() -> list[str]:
    return [name for name in COMMANDS if shutil.which(name) is None]


def apt_get(command: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        return subprocess.run(
            command,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as error:
        raise RuntimeError(f"{' '.join(command)} took over {INSTALL_TIMEOUT_S:.0f} s") from error


def start(base_dir: Path, *, timeout_s: float = START_TIMEOUT_S) -> S3Server:
    """Start a one-node Ceph cluster and radosgw under base_dir; return when S3 answers.

    Raises RuntimeError, with the tail of the daemons' logs, if any step fails or the
    whole start takes longer than timeout_s.
    """
    base_dir = Path(base_dir).resolve()
    base_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout_s
    config = write_config(base_dir)
    processes: list[subprocess.Popen] = []
    try:
        start_monitor(config, base_dir, processes, deadline)
        start_osd(config, base_dir, processes, deadline)
        endpoint_url = start_gateway(config, base_dir, processes, deadline)
        create_user(config, base_dir, deadline)
        create_bucket(endpoint_url, base_dir, processes, deadline)
    except BaseException:
        stop_processes(processes)
        raise
    return S3Server(
        endpoint_url=endpoint_url,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        bucket=BUCKET,
        region=REGION,
        base_dir=base_dir,
        processes=tuple(processes),
    )


def write_config(base_dir: Path) -> Path:
    """Write ceph.conf with fresh ports; every path Ceph writes to points into base_dir."""
    for name in ("mon", "osd", "rgw", "logs", "run", "crash"):
        (base_dir / name).mkdir(exist_ok=True)
    # The OSD's messengers take the first free ports of their range, skipping busy ones;
    # the monitor and the gateway get ports outside it, as the OSD starts before radosgw.
    first = free_port()
    osd_ports = range(first, min(first + OSD_PORT_SPAN, 65536))
    taken = set(osd_ports)
    mon_port = free_port(avoid=taken)
    rgw_port = free_port(avoid=taken | {mon_port})
    text = CONFIG_TEMPLATE.format(
        fsid=uuid.uuid4(),
        dir=base_dir,
        mon_port=mon_port,
        rgw_port=rgw_port,
        osd_port_min=osd_ports.start,
        osd_port_max=osd_ports.stop - 1,
        memstore_bytes=MEMSTORE_BYTES,
    )
    path = base_dir / "ceph.conf"
    path.write_text(text)
    (base_dir / "keyring").touch()
    return path


# Without cephx, msgr2 must not insist on "secure" mode, which needs a session key.
CONFIG_TEMPLATE = """\
[global]
fsid = {fsid}
mon_host = v2:127.0.0.1:{mon_port}
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
ms_bind_msgr1 = false
ms_bind_port_min = {osd_port_min}
ms_bind_port_max = {osd_port_max}
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
ms_mon_client_mode = crc
ms_mon_service_mode = crc
ms_mon_cluster_mode = crc
ms_client_mode = crc
ms_service_mode = crc
ms_cluster_mode = crc
keyring = {dir}/keyring
run_dir = {dir}/run
admin_socket = {dir}/run/$name.asok
pid_file = {dir}/run/$name.pid
log_file = {dir}/logs/$name.log
crash_dir = {dir}/crash
mon_cluster_log_file = {dir}/logs/cluster.$channel.log
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
mon_data_avail_warn = 1
mon_data_avail_crit = 0
paxos_propose_interval = 0.01
paxos_min_wait = 0.001
objecter_tick_interval = 0.2

[mon]
mon_data = {dir}/mon

[osd]
osd_data = {dir}/osd
osd_objectstore = memstore
memstore_device_bytes = {memstore_bytes}

[client.rgw]
rgw_frontends = beast endpoint=127.0.0.1:{rgw_port}
rgw_data = {dir}/rgw
rgw_thread_pool_size = 32
rgw_run_sync_thread = false
rgw_dynamic_resharding = false
"""


def config_value(config: Path, key: str) -> str:
    for line in config.read_text().splitlines():
        name, _, value = line.partition("=")
        if name.strip() == key:
            return value.strip()
    raise KeyError(key)


def start_monitor(
    config: Path, base_dir: Path, processes: list[subprocess.Popen], deadline: float
) -> None:
    fsid = config_value(config, "fsid")
    mon_host = config_value(config, "mon_host")
    monmap = base_dir / "monmap"
    run_tool(
        ["monmaptool", "--create", "--addv", "a", f"[{mon_host}]", "--fsid", fsid, str(monmap)],
        base_dir,
        deadline,
    )
    run_tool(
        ["ceph-mon", "-c", str(config), "--mkfs", "-i", "a", "--monmap", str(monmap)],
        base_dir,
        deadline,
    )
    spawn("mon.a", ["ceph-mon", "-c", str(config), "-f", "-i", "a"], base_dir, processes)
    # A client that finds the port closed backs off for seconds; wait until it listens.
    port = int(mon_host.rsplit(":", 1)[1])
    while not listening(port):
        check_alive(processes, base_dir)
        if time.monotonic() > deadline:
            raise startup_error(f"ceph-mon did not listen on port {port} in time", base_dir)
        time.sleep(0.01)


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def start_osd(
    config: Path, base_dir: Path, processes: list[subprocess.Popen], deadline: float
) -> None:
    osd_uuid = str(uuid.uuid4())
    osd_id = run_tool(
        ["ceph", "-c", str(config), "--connect-timeout", "20", "osd", "new", osd_uuid],
        base_dir,
        deadline,
    ).strip()
    run_tool(
        ["ceph-osd", "-c", str(config), "-i", osd_id, "--mkfs", "--osd-uuid", osd_uuid],
        base_dir,
        deadline,
    )
    spawn(f"osd.{osd_id}", ["ceph-osd", "-c", str(config), "-f", "-i", osd_id], base_dir, processes)


def start_gateway(
    config: Path, base_dir: Path, processes: list[subprocess.Popen], deadline: float
) -> str:
    """Start radosgw and return its endpoint once it answers HTTP."""
    spawn("rgw", ["radosgw", "-c", str(config), "-n", "client.rgw", "-f"], base_dir, processes)
    frontends = config_value(config, "rgw_frontends")
    endpoint_url = "http://" + frontends.split("endpoint=")[1]
    while not answers(endpoint_url):
        check_alive(processes, base_dir)
        if time.monotonic() > deadline:
            raise startup_error(f"radosgw did not answer at {endpoint_url} in time", base_dir)
        time.sleep(0.05)
    return endpoint_url


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def create_user(config: Path, base_dir: Path, deadline: float) -> None:
    run_tool(
        [
            "radosgw-admin",
            "-c",
            str(config),
            "user",
            "create",
            "--uid",
            "studio",
            "--display-name",
            "studio tests",
            "--access-key",
            ACCESS_KEY,
            "--secret",
            SECRET_KEY,
        ],
        base_dir,
        deadline,
    )


def create_bucket(
    endpoint_url: str, base_dir: Path, processes: list[subprocess.Popen], deadline: float
) -> None:
    import boto3  # here, so that importing this module stays cheap
    from botocore.exceptions import BotoCoreError, ClientError

    client = boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name=REGION,
    )
    while True:
        try:
            client.create_bucket(Bucket=BUCKET)
            return
        except (BotoCoreError, ClientError) as error:
            check_alive(processes, base_dir)
            if time.monotonic() > deadline:
                reason = f"could not create bucket {BUCKET}: {error}"
                raise startup_error(reason, base_dir) from error
            time.sleep(0.1)


def run_tool(command: list[str], base_dir: Path, deadline: float) -> str:
    """Run a one-shot Ceph command; return its stdout or raise with its output and the logs."""
    timeout_s = max(deadline - time.monotonic(), 1.0)
    try:
        result = subprocess.run(
            command,
            cwd=base_dir,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=ceph_env(),
            preexec_fn=die_with_parent,
        )
    except subprocess.TimeoutExpired as error:
        raise startup_error(f"{command[0]} took over {timeout_s:.0f} s", base_dir) from error
    if result.returncode != 0:
        output = tail(result.stdout + result.stderr)
        raise startup_error(
            f"{' '.join(command)} failed ({result.returncode}):\n{output}", base_dir
        )
    return result.stdout


def spawn(name: str, command: list[str], base_dir: Path, processes: list[subprocess.Popen]) -> None:
    """Start a daemon in the foreground, its own session, output to logs/<name>.out."""
    with open(base_dir / "logs" / f"{name}.out", "wb") as output:
        process = subprocess.Popen(
            command,
            cwd=base_dir,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=ceph_env(),
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
    processes.append(process)


def ceph_env() -> dict[str, str]:
    """This process's environment minus what would point Ceph or its Python CLI elsewhere."""
    ignored = {"CEPH_ARGS", "CEPH_CONF", "PYTHONPATH", "PYTHONHOME"}
    return {key: value for key, value in os.environ.items() if key not in ignored}


def die_with_parent() -> None:
    """In the child: have the kernel kill it if the test process dies without cleaning up.

    The kernel tracks the thread that forked, so start() belongs on a long-lived thread
    (pytest runs fixtures on the main thread).
    """
    LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def check_alive(processes: list[subprocess.Popen], base_dir: Path) -> None:
    for process in processes:
        if process.poll() is not None:
            name = process.args[0] if isinstance(process.args, list) else process.args
            raise startup_error(f"{name} exited early with code {process.returncode}", base_dir)


def stop_processes(processes: list[subprocess.Popen] | tuple[subprocess.Popen, ...]) -> None:
    """SIGKILL each daemon's whole session (the data lives in memory; nothing to flush)."""
    for process in processes:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def startup_error(reason: str, base_dir: Path) -> RuntimeError:
    return RuntimeError(f"Ceph S3 server failed to start: {reason}\n{log_tails(base_dir)}")


def log_tails(base_dir: Path, lines: int = 15) -> str:
    """The last lines of every daemon log, so a failure explains itself."""
    parts = []
    for path in sorted((base_dir / "logs").glob("*")):
        if path.is_file() and path.stat().st_size:
            text = "\n".join(
                line
                for line in path.read_text(errors="replace").splitlines()
                if "rocksdb" not in line
            )
            parts.append(f"--- {path.name} ---\n{tail(text, lines)}")
    return "\n".join(parts)


def tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.splitlines()[-lines:])
