import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import square_mask, write_gray

from samtl_lite import DataError
from samtl_lite.cli import main
from samtl_lite.data import ImageMaskFolder, SyntheticDefects


def test_help_lists_the_commands():
    out = subprocess.run([sys.executable, "-m", "samtl_lite.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "demo" in out.stdout and "data" in out.stdout


def test_synth_writes_files_the_folder_loader_reads_back(tmp_path, capsys):
    assert main(["data", "synth", "--out", str(tmp_path), "--n", "12", "--size", "40", "--seed", "3",
                 "--defect-rate", "0.5"]) == 0
    ds = ImageMaskFolder(tmp_path / "images", tmp_path / "masks")
    original = SyntheticDefects(n=12, size=40, seed=3, defect_rate=0.5)
    assert np.array_equal(ds.labels, original.labels)
    for i in range(12):
        assert np.array_equal(ds[i]["mask"].numpy(), original[i]["mask"].numpy())
        assert np.abs(ds[i]["image"].numpy() - original[i]["image"].numpy()).max() <= 0.5 / 255 + 1e-6
    rows = (tmp_path / "meta.csv").read_text().splitlines()
    assert len(rows) == 13 and rows[0].startswith("file,label,name,defect_class,area_fraction")


def test_info_on_a_folder_and_clear_error_for_missing_data(tmp_path, capsys, monkeypatch):
    main(["data", "synth", "--out", str(tmp_path), "--n", "8", "--size", "32"])
    assert main(["data", "info", "folder", "--images", str(tmp_path / "images"),
                 "--masks", str(tmp_path / "masks")]) == 0
    out = capsys.readouterr().out
    assert "8 samples" in out and "classes" not in out  # a folder's samples have no class
    assert main(["data", "info", "folder", "--images", str(tmp_path / "images"), "--masks", str(tmp_path / "masks"),
                 "--split", "test"]) == 2
    assert "a folder has no splits of its own" in capsys.readouterr().err
    shared = tmp_path / "images"  # images and masks in one folder (KolektorSDD2's layout), told apart by a suffix
    for mask in (tmp_path / "masks").iterdir():
        mask.rename(shared / f"{mask.stem}_GT{mask.suffix}")
    assert main(["data", "info", "folder", "--images", str(shared), "--masks", str(shared),
                 "--mask-suffix", "_GT"]) == 0
    summary = capsys.readouterr().out
    assert summary.startswith(f"{shared}: 8 samples, 2 defective") and out.endswith(summary)  # the same summary
    assert main(["data", "info", "synthetic", "--mask-suffix", "_GT"]) == 2
    assert capsys.readouterr().err == "samtl: error: --mask-suffix: for `samtl data info folder` only; synthetic " \
        "has a layout of its own. Drop it.\n"
    monkeypatch.setenv("SAMTL_DATA_DIR", str(tmp_path / "nothing"))
    assert main(["data", "info", "ksdd2"]) == 2
    assert "get_ksdd2.py" in capsys.readouterr().err


def test_mask_files_are_binarised_by_mask_level_and_the_old_spelling_still_works_with_a_warning(tmp_path, capsys):
    """--mask-level is the grey level that makes a mask file's pixel defect; --mask-threshold, its old name in
    train and data info, means a probability in evaluate and predict, so there it is kept only as a warned alias."""
    from conftest import square_mask, write_gray

    halo = np.maximum(square_mask(16, 16, (2, 2, 10, 10)) // 255 * 100, square_mask(16, 16, (4, 4, 8, 8)))
    for i, mask in enumerate((square_mask(16, 16, None), halo)):  # a clean mask; a 4x4 defect in a halo at 100
        write_gray(tmp_path / "images" / f"p{i}.png", np.full((16, 16), 90))
        write_gray(tmp_path / "masks" / f"p{i}.png", mask)
    folder = ["data", "info", "folder", "--images", str(tmp_path / "images"), "--masks", str(tmp_path / "masks")]
    assert main(folder) == 0
    anything = capsys.readouterr().out  # any non-zero value: the 8x8 halo is defect
    assert main([*folder, "--mask-level", "128"]) == 0
    new = capsys.readouterr()
    assert "2 samples, 1 defective" in new.out and "warning" not in new.err and new.out != anything  # the core
    assert main([*folder, "--mask-threshold", "128"]) == 0
    old = capsys.readouterr()
    assert old.out == new.out
    assert "samtl: warning: --mask-threshold is now --mask-level" in old.err
    assert "--mask-threshold" not in main.__globals__["build_parser"]().format_help()


def test_default_real_recipe_takes_the_shape_of_the_data(tmp_path, capsys, monkeypatch):
    """real-cpu's 160 x 160 pixels become [272, 96] for parts 2.7x taller than wide (KolektorSDD2's shape): each
    side a multiple of 16, the pixel count within a few percent; --size and named recipes keep their own."""
    import samtl_lite.engine as engine
    from samtl_lite.engine.recipes import shaped_size

    for i in range(24):  # widths 30 and 50 around the median part, 40 x 110
        w = (30, 40, 50)[i % 3]
        write_gray(tmp_path / "images" / f"{i:02d}.png", np.full((110, w), 90 + i))
        write_gray(tmp_path / "masks" / f"{i:02d}.png", square_mask(110, w, (50, 5, 60, 15) if i % 2 else None))
    seen = []
    monkeypatch.setattr(engine, "train_and_evaluate", lambda config, out, **kw: seen.append(config) or {})
    folder = ["train", "--data", "folder", "--images", str(tmp_path / "images"), "--masks", str(tmp_path / "masks"),
              "--out", str(tmp_path / "run")]
    assert main(folder) == 0
    assert seen[-1].size == [272, 96] == shaped_size((40, 110), 160 * 160)
    assert "size: 272 96 (H W), real-cpu's pixels in the shape of the data's median image, 40x110" in \
        capsys.readouterr().out
    assert main([*folder, "--size", "64", "32"]) == 0 and seen[-1].size == [64, 32]
    assert main([*folder, "--recipe", "demo"]) == 0 and seen[-1].size == 128
    assert "size:" not in capsys.readouterr().out
    for shape, pixels in (((230, 630), 25600), ((512, 512), 25600), ((100, 118), 25600), ((630, 230), 102400)):
        h, w = shaped_size(shape, pixels)
        assert h % 16 == w % 16 == 0 and abs(h * w / pixels - 1) < 0.1
        assert abs((h / w) / (shape[1] / shape[0]) - 1) < 0.2  # the images' proportions


def test_warnings_read_as_samtl_messages(tmp_path, capsys):
    main(["data", "synth", "--out", str(tmp_path), "--n", "8", "--size", "32"])
    (tmp_path / "masks" / "000000.png").rename(tmp_path / "masks" / "gone.png")  # a mask whose image is missing
    (tmp_path / "images" / "000000.png").unlink()
    capsys.readouterr()
    assert main(["data", "info", "folder", "--images", str(tmp_path / "images"),
                 "--masks", str(tmp_path / "masks")]) == 0
    err = capsys.readouterr().err
    assert "samtl: warning: " in err and "1 masks have no image (first: gone.png)" in err
    assert "UserWarning" not in err and "warnings.warn" not in err


def test_bench_prints_rates(capsys):
    assert main(["data", "bench", "--sizes", "32", "--n", "20"]) == 0
    assert "images/s" in capsys.readouterr().out


def test_unexpected_failure_says_where_to_report_it(tmp_path, capsys, monkeypatch):
    import samtl_lite.cli as cli

    def broken(args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(cli, "_cmd_bench", broken)
    assert main(["data", "bench", "--n", "1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("samtl: error: unexpected failure (ZeroDivisionError: a bug)") and "report it" in err
    assert "--debug" in err and "Traceback" not in err
    with pytest.raises(ZeroDivisionError):
        main(["--debug", "data", "bench", "--n", "1"])


def test_option_values_out_of_range_are_clean_errors(capsys):
    for argv in (["train", "--out", "x", "--batch-size", "0"], ["train", "--out", "x", "--size", "abc"],
                 ["train", "--out", "x", "--max-fpr", "1.5"], ["data", "synth", "--out", "x", "--n", "-1"]):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert "samtl: error: samtl " in err and "Traceback" not in err, argv


def test_every_train_option_that_names_a_recipe_field_reaches_the_config():
    import argparse
    import dataclasses

    from samtl_lite import cli
    from samtl_lite.engine import TrainConfig

    train = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices["train"]
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    options = {a.dest for a in train._actions} & fields
    assert options - set(cli.TRAIN_FIELDS) == set()  # an option missing here would be parsed and silently ignored
    args = train.parse_args(["--out", "x", "--weight-decay", "0.05", "--augment", "strong", "--lr", "1e-3"])
    config = cli._train_config(args)
    assert (config.weight_decay, config.augment, config.lr) == (0.05, "strong", 1e-3)


def test_real_data_without_a_recipe_get_their_default_recipe(tmp_path, capsys, monkeypatch):
    """No --recipe: Magnetic Tile gets mt-cpu, other real data real-cpu (their settings, options on top, the choice
    printed), synthetic data TrainConfig's defaults; on CUDA the -gpu recipes."""
    import argparse

    from samtl_lite import cli
    from samtl_lite.engine import RECIPES, TrainConfig

    train = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices["train"]
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()

    def config_of(*argv: str) -> TrainConfig:
        return cli._train_config(train.parse_args(["--out", "x", *argv]))

    folder = config_of("--data", "folder", "--images", str(images), "--masks", str(masks), "--epochs", "2")
    assert "recipe: real-cpu, the default for folder data" in capsys.readouterr().out
    assert (folder.size, folder.epochs, folder.weight_decay, folder.ema) == (160, 2, 0.05, 0.99)
    assert (folder.data, folder.images) == ("folder", str(images))
    mt = config_of("--data", "magnetic-tile")
    assert TrainConfig(**{**RECIPES["mt-cpu"], "in_channels": mt.in_channels}) == mt
    assert "recipe: mt-cpu" in capsys.readouterr().out
    assert config_of() == TrainConfig() and capsys.readouterr().out == ""  # synthetic: the defaults, no line
    assert config_of("--data", "folder", "--images", str(images), "--masks", str(masks), "--recipe", "demo").epochs == 3
    assert capsys.readouterr().out == ""  # a recipe named: nothing to say
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    assert config_of("--data", "ksdd2").encoder == "resnet18" and "real-gpu" in capsys.readouterr().out
    assert config_of("--data", "ksdd2", "--device", "cpu").encoder == "tiny"  # a GPU here, but the run is on the CPU
    assert "real-cpu" in capsys.readouterr().out


@pytest.mark.parametrize("argv, says", [
    (["--device", "cuda"], "--device cuda: PyTorch"),
    (["--device", "gpu"], "argument --device: 'gpu' is not a device name: use auto, cpu, cuda, cuda:N (N = 0, 1, "
                          "...) or mps"),
    (["--device", "meta"], "argument --device: 'meta' is not a device name: use auto, cpu, cuda"),  # torch knows it
    (["--device", "xla"], "argument --device: 'xla' is not a device name: use auto, cpu, cuda"),
    (["--size", "5000"], "argument --size: 5000 pixels is more than the largest side samtl trains or draws, 4096 "
                         "(larger images do not fit in memory); give at most 4096"),
    (["--size", "64", "4097"], "argument --size: 4097 pixels is more than the largest side"),
    (["--threads", "100000"], "argument --threads: 100000 threads is more than "),
    (["--data", "magnetic-tile", "--n-train", "64"], "samtl: error: --n-train 64: synthetic data only, and samtl "
                                                     "train here reads magnetic-tile, whose splits are fixed"),
    (["--data", "ksdd2", "--n-train", "8", "--n-eval", "4"], "--n-train 8, --n-eval 4: synthetic data only"),
    (["--encoder", "resnet"], "argument --encoder: invalid choice: 'resnet'"),
    (["--seed", "-1"], "argument --seed: -1 is below the smallest sensible value, 0"),
    (["--size", "32", "40", "48"], "argument --size: give one side (N) or two (H W), not 3 values"),
    (["--lr", "inf"], "argument --lr: inf is not a finite number"),
    (["--w-seg", "0", "--w-cls", "0"], "weights are w_seg 0 and w_cls 0, so nothing would be trained: give --w-seg "
                                       "or --w-cls a positive weight"),
    (["--model", "seg-only", "--w-cls", "0.5"], "the seg-only model has no sample head, so its w_cls must be 0"),
    (["--loss-schedule", "uncertainty", "--w-seg", "0.3"], "schedule='uncertainty' sets both weights itself"),
])
def test_options_a_user_gets_wrong_are_one_line_errors(tmp_path, capsys, monkeypatch, argv, says):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    monkeypatch.setenv("SAMTL_DATA_DIR", str(tmp_path / "no-data"))  # never train on real data here
    try:
        code = main(["train", *argv, "--out", str(tmp_path / "run")])
    except SystemExit as stop:  # argparse's errors exit from parse_args
        code = stop.code
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("samtl: error: ") and err.count("\n") == 1 and says in err
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_a_run_names_its_folder_data_absolutely(tmp_path, monkeypatch, capsys):
    """`samtl evaluate` run from another folder reads the run's own images, not a folder of the same relative name."""
    import json

    run_dir, elsewhere = tmp_path / "a", tmp_path / "b"
    main(["data", "synth", "--out", str(run_dir / "toy"), "--n", "40", "--size", "32", "--defect-rate", "0.5"])
    main(["data", "synth", "--out", str(elsewhere / "toy"), "--n", "12", "--size", "32", "--defect-rate", "0.5",
          "--seed", "5"])
    monkeypatch.chdir(run_dir)
    assert main(["train", "--data", "folder", "--images", "toy/images", "--masks", "toy/masks", "--recipe", "mt-fast",
                 "--size", "32", "--out", "run", "--no-progress"]) == 0
    saved = json.loads((run_dir / "run" / "config.json").read_text())
    assert (saved["images"], saved["masks"]) == (str(run_dir / "toy" / "images"), str(run_dir / "toy" / "masks"))
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", "run/best.pt", "--no-progress"]) == 0
    here = capsys.readouterr().out
    monkeypatch.chdir(elsewhere)  # holds toy/images too: 12 other images
    assert main(["evaluate", "--checkpoint", str(run_dir / "run" / "best.pt"), "--no-progress"]) == 0
    there = capsys.readouterr().out
    assert "test split, 6 samples (3 defective)" in here and here == there  # the decoy's 12 images would give 2


def test_evaluate_on_another_folder_whose_masks_share_it(tmp_path, capsys):
    """A model trained on images/ and masks/ is evaluated on the same tiles laid out as KolektorSDD2's are (x.png
    beside x_GT.png): --mask-suffix says how, and it prints what it prints on the model's own folders."""
    rng = np.random.default_rng(0)
    for i in range(24):
        pixels, box = rng.integers(80, 120, (24, 20)), (4, 4, 9, 9) if i % 3 == 0 else None
        if box:
            pixels[4:9, 4:9] = 20
        write_gray(tmp_path / "images" / f"{i:02d}.png", pixels)
        write_gray(tmp_path / "masks" / f"{i:02d}.png", square_mask(24, 20, box))
        write_gray(tmp_path / "one" / f"{i:02d}.png", pixels)
        write_gray(tmp_path / "one" / f"{i:02d}_GT.png", square_mask(24, 20, box))
    run, one = tmp_path / "run", str(tmp_path / "one")
    assert main(["train", "--data", "folder", "--images", str(tmp_path / "images"), "--masks", str(tmp_path / "masks"),
                 "--size", "16", "--epochs", "1", "--no-progress", "--out", str(run)]) == 0
    capsys.readouterr()
    evaluate = ["evaluate", "--checkpoint", str(run / "best.pt"), "--no-progress", "--out"]
    assert main([*evaluate, str(tmp_path / "own")]) == 0
    own = capsys.readouterr().out
    assert main([*evaluate, str(tmp_path / "e1"), "--data", "folder", "--images", one, "--masks", one]) == 2
    assert "images and masks are in the same folder, so the masks must be told apart" in capsys.readouterr().err
    assert main([*evaluate, str(tmp_path / "e2"), "--data", "folder", "--images", one, "--masks", one,
                 "--mask-suffix", "_GT"]) == 0
    assert capsys.readouterr().out == own and "sample head: AP" in own


@pytest.mark.parametrize("argv", [["train", "--out", "{out}", "--seed", "4294967296"],
                                  ["train", "--out", "{out}", "--split-seed", "4294967296"],
                                  ["demo", "--out", "{out}", "--seed", "18446744073709551616"],
                                  ["experiment", "--out", "{out}", "--seeds", "0", "4294967296"]])
def test_seeds_outside_zero_to_two_to_the_32_are_refused_by_the_options(tmp_path, capsys, argv):
    """numpy's global generator, which training seeds, takes [0, 2**32): a larger seed used to end in 'This is a
    bug'; now the options refuse it before anything runs or is written."""
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as stop:
        main([a.format(out=out) for a in argv])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.startswith(f"samtl: error: samtl {argv[0]}: argument --") and "bug" not in err
    assert "is too large: seeds must lie in [0, 2**32), 0 to 4294967295. Pick a smaller seed" in err
    assert not out.exists()
    from samtl_lite.cli import build_parser

    assert build_parser().parse_args(["train", "--out", "x", "--seed", "4294967295"]).seed == 2**32 - 1


def test_experiment_refuses_a_seed_given_twice(tmp_path, capsys):
    """--seeds 0 0 1 would train seed 0 once and count its result twice, shrinking the std: refused, with the
    seeds to give instead, before anything is written."""
    from samtl_lite.engine.experiment import run_experiment

    out = tmp_path / "exp"
    assert main(["experiment", "--out", str(out), "--seeds", "0", "0", "1", "--datasets", "synthetic"]) == 2
    assert capsys.readouterr().err == ("samtl: error: seeds [0, 0, 1] give 0 more than once, and a run given twice "
                                       "would count as two seeds in the mean ± std. Give each seed once: --seeds 0 1 "
                                       "(seeds=(0, 1) in Python).\n")
    with pytest.raises(DataError, match=r"give 1, 2 more than once.*--seeds 2 1 \(seeds=\(2, 1\)"):
        run_experiment("cpu", out, seeds=(2, 1, 2, 1, 1), datasets=("synthetic",))
    assert not out.exists()


def test_bounds_of_size_threads_and_device_hold_in_every_command(tmp_path, capsys):
    """The largest side (4096) and thread count (4 x the cores, at most 256) are accepted, one more is refused,
    by every command that takes them; device names are auto, cpu, cuda, cuda:N and mps, nothing else torch knows."""
    from samtl_lite.cli import THREAD_LIMIT, build_parser

    assert THREAD_LIMIT == min(4 * len(os.sched_getaffinity(0)), 256)
    parse = build_parser().parse_args
    ok = parse(["train", "--out", "x", "--size", "4096", "8", "--threads", str(THREAD_LIMIT), "--device", "cuda:12"])
    assert (ok.size, ok.threads, ok.device) == ([4096, 8], THREAD_LIMIT, "cuda:12")
    assert parse(["predict", "--checkpoint", "c", "--out", "o", "x.png", "--device", "mps"]).device == "mps"
    refused = [["demo", "--size", "4097"], ["demo", "--threads", str(THREAD_LIMIT + 1)],
               ["experiment", "--size", "4097"], ["experiment", "--threads", str(THREAD_LIMIT + 1)],
               ["data", "synth", "--out", "o", "--size", "4097"], ["data", "bench", "--sizes", "64", "4097"],
               ["evaluate", "--checkpoint", "c", "--size", "4097"],
               ["evaluate", "--checkpoint", "c", "--device", "hip"],
               ["predict", "--checkpoint", "c", "--out", "o", "x.png", "--device", "cuda:x"],
               ["train", "--out", "x", "--device", "cpu:0"]]
    for argv in refused:
        with pytest.raises(SystemExit) as stop:
            main(argv)
        err = capsys.readouterr().err
        assert stop.value.code == 2 and err.startswith("samtl: error: ") and err.count("\n") == 1, argv
        assert "is more than" in err or "is not a device name: use auto, cpu, cuda, cuda:N" in err, argv
    help_text = subprocess.run([sys.executable, "-m", "samtl_lite.cli", "train", "--help"], capture_output=True,
                               text=True).stdout
    assert f"at most {THREAD_LIMIT}, 4 x the cores up to 256" in " ".join(help_text.split())


def test_experiment_offers_only_the_datasets_it_has_recipes_for(tmp_path, capsys, monkeypatch):
    """ksdd2 was offered and then failed with 'This is a bug' (no recipe for it); --n-train with real data only
    would be ignored. Both are refused before the output folder is made."""
    monkeypatch.setenv("SAMTL_DATA_DIR", str(tmp_path / "no-data"))
    out = tmp_path / "exp"
    with pytest.raises(SystemExit) as stop:
        main(["experiment", "--out", str(out), "--datasets", "ksdd2", "--epochs", "1"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "argument --datasets: invalid choice: 'ksdd2' (choose from " \
        "synthetic, magnetic-tile)" in err.replace("'synthetic', 'magnetic-tile'", "synthetic, magnetic-tile")
    assert main(["experiment", "--out", str(out), "--datasets", "magnetic-tile", "--n-eval", "16"]) == 2
    assert capsys.readouterr().err == ("samtl: error: --n-eval 16: synthetic data only, and samtl experiment here "
                                       "reads magnetic-tile, whose splits are fixed by the dataset, so the run would "
                                       "use all of them. Drop it; nothing was written.\n")
    assert not out.exists()


@pytest.mark.parametrize("epochs_done", [0, 1])
def test_ctrl_c_says_resume_only_when_a_last_checkpoint_exists(tmp_path, capsys, monkeypatch, epochs_done):
    """Interrupted in epoch 1 there is no last.pt and --resume would be refused: the message says to start again.
    After a finished epoch it names the command that continues the run."""
    import samtl_lite.engine as engine

    out = tmp_path / "run"

    def interrupted(config, folder, **_):
        folder.mkdir(parents=True)
        (folder / "config.json").write_text("{}")
        if epochs_done:
            (folder / "last.pt").write_bytes(b"")
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, "train_and_evaluate", lambda config, folder, **kw: interrupted(config, Path(folder)))
    assert main(["train", "--out", str(out), "--epochs", "2", "--no-progress"]) == 130
    err = capsys.readouterr().err
    if epochs_done:
        assert err == f"samtl: interrupted. {out}/last.pt holds the last finished epoch: `samtl train --out {out} " \
            "--resume` continues the run.\n"
    else:
        assert err == f"samtl: interrupted. No epoch had finished ({out} has no last.pt), so the run cannot be " \
            "resumed: run the same command again to start it afresh.\n"
