"""The ``flow`` command that ``pip install`` writes is the same program as ``python -m
runner``: what flow promises about its start and its end holds for the command users type.

flow is started as a shell starts a foreground job (SIGINT at its default, in a session
of its own), and Ctrl-C is SIGINT to its whole process group.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO, flow_env
from tests.hostile_kit import LAUNCHER

# Holds flow at the import of its command line module, once it says so on stderr: the
# moment a Ctrl-C made right after pressing Enter arrives.
HOLD = '''\
import sys
import time


class Hold:
    def find_spec(self, name, path=None, target=None):
        if name == "runner.cli":
            sys.stderr.write("importing runner.cli\\n")
            sys.stderr.flush()
            time.sleep(60)
        return None


sys.meta_path.insert(0, Hold())
'''


def installed_flow() -> Path:
    """The ``flow`` script installed beside this interpreter (README: ``pip install``)."""
    script = Path(sys.executable).parent / "flow"
    assert script.exists(), f"flow is not installed beside {sys.executable}: pip install -e ."
    return script


def test_ctrl_c_while_the_installed_flow_command_starts_is_one_line(tmp_path: Path):
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(HOLD)
    env = {**flow_env(), "PYTHONPATH": os.pathsep.join([str(hook), str(REPO)])}
    proc = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(installed_flow()),
                             "validate", "wf.yaml"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    assert proc.stderr is not None
    first = proc.stderr.readline()
    assert first == "importing runner.cli\n", first + proc.communicate(timeout=30)[1]
    time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, (proc.returncode, err)
    assert err.strip() == "interrupted", err
    assert "Traceback" not in out + err
