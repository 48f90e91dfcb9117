"""Atomic saves leave no litter: temporaries of dead writers are removed by the next save
into the folder, live writers' and other hosts' are left alone; kill -9 loops over
save_model, save_weights, ModelCheckpoint and BackupAndRestore count what is left."""

import os
import random
import signal
import subprocess
import sys
import textwrap

import pytest

import nerve
from nerve.utils import atomic_files


def _dead_pid():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _name(pid, host, destination="model.keras"):
    return f".nerve-tmp-{pid}-{host}-{'0' * 12}-{destination}"


def test_only_dead_writers_temporaries_on_this_host_are_removed(tmp_path):
    host = os.path.basename(atomic_files.temporary_path(tmp_path / "x")).split("-")[3]
    dead, alive = _dead_pid(), os.getppid()
    names = {
        "dead": _name(dead, host),
        "dead, nested": _name(dead, host, _name(dead, host)),
        "alive": _name(alive, host),
        "mine": _name(os.getpid(), host),
        "other host": _name(dead, "0123abcd" if host != "0123abcd" else "ffffffff"),
        "not ours": f".tmp-{dead}-model.keras",
    }
    for name in names.values():
        (tmp_path / name).write_bytes(b"partial")
    (tmp_path / "model.keras").write_bytes(b"old")
    stale = {os.path.basename(p) for p in atomic_files.stale_temporaries(tmp_path)}
    assert stale == {names["dead"], names["dead, nested"]}
    with atomic_files.atomic_write(tmp_path / "model.keras") as f:
        f.write(b"new")
    left = set(os.listdir(tmp_path))
    assert left == {"model.keras"} | (set(names.values()) - stale)
    assert (tmp_path / "model.keras").read_bytes() == b"new"


def test_a_failed_write_removes_its_temporary_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "w.weights.h5"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_files.atomic_write(target) as f:
        f.write(b"half")
        raise RuntimeError("crash")
    assert os.listdir(tmp_path) == ["w.weights.h5"] and target.read_bytes() == b"old"


# -- kill -9 while saving -------------------------------------------------------------------
_WRITER = textwrap.dedent(
    """
    import os, sys
    import nerve
    from nerve import callbacks, layers, saving

    target, folder = sys.argv[1], sys.argv[2]
    model = nerve.models.Sequential(
        [layers.Input((256,)), layers.Dense(1024), layers.Dense(512)]
    )
    model.compile(optimizer="adam", loss="mse")
    if target == "save_model":
        save = lambda: saving.save_model(model, os.path.join(folder, "m.keras"))
    elif target == "save_weights":
        save = lambda: saving.save_weights(model, os.path.join(folder, "m.weights.h5"))
    elif target == "ModelCheckpoint":
        checkpoint = callbacks.ModelCheckpoint(os.path.join(folder, "m.keras"))
        checkpoint.set_model(model)
        save = lambda: checkpoint.on_epoch_end(0, {})
    else:
        backup = callbacks.BackupAndRestore(folder, delete_checkpoint=False)
        backup.set_model(model)
        save = lambda: backup.on_epoch_end(0)
    save()
    if len(sys.argv) > 3:
        sys.exit()
    print("ready", flush=True)
    while True:
        save()
    """
)


def _temporaries(folder):
    return sorted(n for n in os.listdir(folder) if "tmp" in n)


@pytest.mark.slow
@pytest.mark.skipif(os.name == "nt", reason="kill -9 and pid probes are POSIX")
@pytest.mark.parametrize(
    "target", ["save_model", "save_weights", "ModelCheckpoint", "BackupAndRestore"]
)
def test_saves_killed_mid_write_leave_no_litter_after_the_next_save(tmp_path, target):
    root = os.path.dirname(os.path.dirname(nerve.__file__))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, *sys.path]))
    command = [sys.executable, "-c", _WRITER, target, str(tmp_path)]
    rng = random.Random(target)
    left_by_kills = []
    for _ in range(3):
        writer = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
        assert writer.stdout.readline().strip() == "ready"
        # Saves repeat back to back, so a kill lands mid-write most of the time.
        subprocess.run(["sleep", f"{rng.uniform(0.05, 0.4):.3f}"], check=True)
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        writer.stdout.close()
        left_by_kills.append(len(_temporaries(tmp_path)))
    print(f"{target}: temporaries left after each kill: {left_by_kills}")
    # One more save, in a new process: it removes every dead writer's temporary.
    subprocess.run([*command, "once"], env=env, check=True)
    assert _temporaries(tmp_path) == []
    model = nerve.models.Sequential(
        [nerve.layers.Input((256,)), nerve.layers.Dense(1024), nerve.layers.Dense(512)]
    )
    model.compile(optimizer="adam", loss="mse")
    if target == "BackupAndRestore":
        backup = nerve.callbacks.BackupAndRestore(str(tmp_path))
        backup.set_model(model)
        backup.on_train_begin()
        assert backup._resume_epoch == 1
    elif target == "save_weights":
        nerve.saving.load_weights(model, tmp_path / "m.weights.h5")
    else:
        nerve.saving.load_model(tmp_path / "m.keras")
