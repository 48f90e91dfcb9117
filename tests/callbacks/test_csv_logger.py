"""CSVLogger: header, rows, separators, appending, reserved val_ columns."""

import numpy as np

from nerve import ops
from nerve.callbacks import CSVLogger


def log(logger, rows):
    logger.on_train_begin()
    for epoch, logs in enumerate(rows):
        logger.on_epoch_end(epoch, logs)
    logger.on_train_end()


def read(path):
    with open(path, newline="") as f:
        return f.read()


def test_rows_and_header(tmp_path):
    path = tmp_path / "log.csv"
    log(
        CSVLogger(path),
        [
            {"loss": 0.5, "accuracy": np.float32(0.25), "val_loss": ops.convert_to_tensor(0.75)},
            {"loss": 0.25, "accuracy": 0.5, "val_loss": 0.5},
        ],
    )
    assert read(path) == "epoch,accuracy,loss,val_loss\r\n0,0.25,0.5,0.75\r\n1,0.5,0.25,0.5\r\n"


def test_separator_and_append(tmp_path):
    path = tmp_path / "log.tsv"
    log(CSVLogger(path, separator="\t"), [{"loss": 1.0, "val_loss": 2.0}])
    log(CSVLogger(path, separator="\t", append=True), [{"loss": 3.0, "val_loss": 4.0}])
    assert read(path) == "epoch\tloss\tval_loss\r\n0\t1.0\t2.0\r\n0\t3.0\t4.0\r\n"
    log(CSVLogger(path, separator="\t"), [{"loss": 5.0, "val_loss": 6.0}])  # overwrite
    assert read(path) == "epoch\tloss\tval_loss\r\n0\t5.0\t6.0\r\n"


def test_append_to_empty_file_writes_the_header(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("")
    log(CSVLogger(path, append=True), [{"loss": 1.0}])
    assert read(path).startswith("epoch,loss,val_loss\r\n")


def test_val_columns_reserved_when_validation_starts_later(tmp_path):
    path = tmp_path / "log.csv"
    log(CSVLogger(path), [{"loss": 1.0}, {"loss": 0.5, "val_loss": 0.7}, {"loss": [1, 2]}])
    assert read(path) == ('epoch,loss,val_loss\r\n0,1.0,NA\r\n1,0.5,0.7\r\n2,"""[1, 2]""",NA\r\n')
