"""One path from (dataset, split) to recordings: sspd.data.splits."""
import json

import numpy as np
import pytest

from sspd.data.cache import ClipCache, PreprocessConfig
from sspd.data.recording import Recording
from sspd.data.splits import dataset_entries, load_split, split_subjects, validation_subjects
from sspd.errors import DataError


@pytest.fixture()
def project(tmp_path, monkeypatch):
    """A project root with a clip cache of five one-second recordings (subjects 1-5)."""
    monkeypatch.setenv("SSPD_ROOT", str(tmp_path))
    cache = tmp_path / "data" / "cache" / "mydata"
    rng = np.random.default_rng(0)
    for s in range(1, 6):
        t = np.arange(30) / 30.0
        rec = Recording(frames=rng.integers(0, 255, (30, 151, 151, 3), dtype=np.uint8), timestamps=t,
                        fps_nominal=30.0, bvp=np.sin(2 * np.pi * t), dataset="toy", subject=str(s))
        ClipCache(cache).build(rec, PreprocessConfig())
    (tmp_path / "data" / "splits").mkdir(parents=True)
    return tmp_path, cache


def _write_split(root, name, **lists):
    (root / "data" / "splits" / f"{name}.json").write_text(json.dumps(lists))


def test_validation_fold_is_every_kth_training_subject():
    train = [str(i) for i in range(1, 31)]
    val = validation_subjects(train, 0.2)
    assert val == ["5", "10", "15", "20", "25", "30"]
    assert validation_subjects(train, 0.0) == [] and validation_subjects(["1"], 0.2) == []
    split = {"train": train, "test": ["31"]}
    fit = split_subjects(split, "fit")
    assert len(fit) == 24 and not set(fit) & set(val)
    assert split_subjects({**split, "val": ["1", "2"]}, "val") == ["1", "2"]   # a listed fold wins
    with pytest.raises(ValueError, match="split must be"):
        split_subjects(split, "all")


def test_split_file_checks(project):
    root, _ = project
    _write_split(root, "bad", train=["1", "2"], test=["2"])
    with pytest.raises(DataError, match="share subjects"):
        load_split("bad")
    _write_split(root, "badval", train=["1", "2"], test=["3"], val=["3"])
    with pytest.raises(DataError, match="not training subjects"):
        load_split("badval")
    with pytest.raises(DataError, match="split file missing"):
        load_split("nothing")


def test_cache_folder_uses_its_split_file_and_never_silently_scores_training_subjects(project):
    root, cache = project
    # no split file: only "all", with an error that says what to do
    with pytest.raises(DataError, match="no split file for dataset 'mydata'"):
        dataset_entries(cache, "test", progress=False)
    everything, name = dataset_entries(cache, "all", progress=False)
    assert name == "mydata" and [e.subject for e in everything] == ["1", "2", "3", "4", "5"]
    # with data/splits/mydata.json the test split is the test subjects only
    _write_split(root, "mydata", train=["1", "2", "3", "4"], test=["5"])
    assert [e.subject for e in dataset_entries(cache, "test", progress=False)[0]] == ["5"]
    assert [e.subject for e in dataset_entries("mydata", "train", progress=False)[0]] == ["1", "2", "3", "4"]
    fit = dataset_entries(cache, "fit", val_fraction=0.5, progress=False)[0]
    val = dataset_entries(cache, "val", val_fraction=0.5, progress=False)[0]
    assert [e.subject for e in fit] == ["1", "3"] and [e.subject for e in val] == ["2", "4"]
    # an explicit split file overrides the name-matched one
    other = root / "elsewhere.json"
    other.write_text(json.dumps({"train": ["5"], "test": ["1", "2"]}))
    assert [e.subject for e in dataset_entries(cache, "test", split_file=other, progress=False)[0]] == ["1", "2"]
    # a split naming subjects the cache does not hold is an error, not a smaller test set
    _write_split(root, "mydata", train=["1"], test=["5", "6"])
    with pytest.raises(DataError, match=r"not cached: \['6'\]"):
        dataset_entries(cache, "test", progress=False)
    with pytest.raises(DataError, match="neither a synthetic preset"):
        dataset_entries(root / "nowhere", "all", progress=False)


def test_evaluate_cli_applies_the_split_to_a_cache_folder(project, capsys):
    from sspd.cli import main

    root, cache = project
    _write_split(root, "mydata", train=["1", "2", "3"], test=["4", "5"])
    out = root / "res"
    rc = main(["evaluate", "--method", "green", "--dataset", str(cache), "--protocol", "toolbox",
               "--out", str(out), "--no-progress", "--n-boot", "10"])
    assert rc in (0, 1)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_recordings"] == 2
