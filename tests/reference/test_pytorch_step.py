"""The PyTorch reference's table and its reading of batchbench records (no torch needed).

Run by tests/reference.rs. The first GPU run (an H200) crashed printing its table when
no Burn figure matched a row; these tests keep that path covered.
"""
import importlib.util
import json
import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    "pytorch_step", os.path.join(HERE, "..", "..", "bench", "reference", "pytorch_step.py"))
pytorch_step = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pytorch_step)


def record(model, batch, samples_per_s, precision="f32", status="ok"):
    return {"status": status, "spec": {"model": {"kind": model}, "batch_size": batch, "precision": precision},
            "summary": {"samples_per_s": samples_per_s}}


class Table(unittest.TestCase):
    ROWS = [{"model": "mlp", "batch_size": 512, "math": "f32", "samples_per_s": 500000.0},
            {"model": "cnn", "batch_size": 512, "math": "tf32", "samples_per_s": 400000.0}]

    def test_a_row_without_a_burn_figure_prints_a_dash(self):
        lines = pytorch_step.table(self.ROWS, {}, "PyTorch 2 on cuda (16 threads)")
        self.assertEqual(len(lines), 4)
        self.assertTrue(lines[2].split()[-2:] == ["-", "-"], lines[2])

    def test_the_ratio_is_burn_over_pytorch(self):
        lines = pytorch_step.table(self.ROWS, {("mlp", 512): 750000.0}, "t")
        self.assertIn("750000", lines[2])
        self.assertTrue(lines[2].endswith("1.50x"), lines[2])
        self.assertTrue(lines[3].endswith("-"), lines[3])

    def test_only_successful_f32_records_are_compared(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "runs.jsonl")
            with open(path, "w") as f:
                for r in [record("mlp", 512, 700000.0), record("mlp", 512, 900000.0),
                          record("mlp", 512, 2e6, precision="bf16"),
                          record("mlp", 512, None, status="oom"), record("cnn", 64, 1000.0, status="crashed")]:
                    f.write(json.dumps(r) + "\n")
                f.write("\n")
            self.assertEqual(pytorch_step.burn_figures(path), {("mlp", 512): 800000.0})


if __name__ == "__main__":
    sys.exit(0 if unittest.main(exit=False).result.wasSuccessful() else 1)
