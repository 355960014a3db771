"""The fast inference path (sspd.model.fast) against the eager float32 reference."""
import numpy as np
import pytest
import torch

from sspd.augment import frame_differences, resize_frames
from sspd.inference import SSPDMethod
from sspd.model import SSPD
from sspd.model.fast import BACKENDS, InferenceEngine, bf16_supported, fold_batchnorm, set_batchnorm_rule
from sspd.paths import project_root

from conftest import noisy_pulse_frames

TRAINED = project_root() / "data" / "results" / "training" / "study-easy-full" / "model_best.pt"


def _model_with_statistics(seed=0):
    """An inference network whose BatchNorm layers hold non-trivial running statistics and affines."""
    torch.manual_seed(seed)
    model = SSPD(s3m=False)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.1, 0.1)
    return model.eval()


def _input(n_frames=33, seed=0):
    return frame_differences(resize_frames(noisy_pulse_frames(n_frames, seed=seed), 128, "area"))[None]


def _relative_error(a, b):
    return float((a - b).abs().max() / b.abs().max())


def test_fold_batchnorm_keeps_the_function_and_leaves_the_model_alone():
    model = _model_with_statistics()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    folded = fold_batchnorm(model)
    # every conv -> BN pair: 2 + 2 + 2 (ConvBlocks) + 1 (final block) + 3 (predictor); the input BN stays
    assert folded.n_folded_batchnorms == 10
    assert isinstance(folded.BN, torch.nn.BatchNorm3d)
    x = _input()
    with torch.no_grad():
        ref = set_batchnorm_rule(model, "running")(x, with_s3m=False).rppg
        out = folded(x, with_s3m=False).rppg
    assert _relative_error(out, ref) < 1e-5
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    # folding changed the weights: a folded network with the stored statistics undone differs
    assert not torch.equal(folded.backbone_step1.Conv_Layer1.weight, model.backbone_step1.Conv_Layer1.weight)


def test_fold_refuses_a_batchnorm_without_running_statistics():
    model = set_batchnorm_rule(_model_with_statistics(), "batch")
    model.backbone_step1.BN1.running_mean = None
    with pytest.raises(ValueError, match="BN1"):
        fold_batchnorm(model)


@pytest.mark.parametrize("rule", ["running", "batch"])
def test_compiled_fp32_equals_eager(rule):
    """The compiled path in float32 is the same function; the bf16 backend folds under "running"."""
    torch.set_num_threads(2)
    model = _model_with_statistics(1)
    x = _input(41)
    ref = InferenceEngine(model, rule, backend="eager")(x)
    engine = InferenceEngine(model, rule, backend="fast-fp32")
    out = engine(x)
    assert engine.precision == "fp32" and engine.folded == 0
    assert InferenceEngine(model, rule, backend="bf16").folded == (10 if rule == "running" else 0)
    assert _relative_error(out, ref) < 1e-4, engine


def test_bf16_is_close_and_keeps_the_heart_rate():
    """bf16 changes the waveform by well under 1 % of its range and the heart rate not at all."""
    if not bf16_supported():
        pytest.skip("this CPU has no native bfloat16")
    if not TRAINED.is_file():
        pytest.skip(f"{TRAINED} is not in this checkout")
    from sspd.signal import periodogram_hr

    frames = noisy_pulse_frames(301, hr_hz=1.2, seed=4)
    eager = SSPDMethod(TRAINED, chunk=None, backend="eager")(frames, 30.0)
    bf16 = SSPDMethod(TRAINED, chunk=None, backend="bf16")(frames, 30.0)
    assert np.abs(bf16 - eager).max() < 0.02 * np.abs(eager).max()
    assert np.corrcoef(bf16, eager)[0, 1] > 0.999
    assert abs(periodogram_hr(bf16, 30.0) - periodogram_hr(eager, 30.0)) < 0.5


def test_a_failed_compile_falls_back_to_the_uncompiled_network(monkeypatch):
    def broken_compile(module, *args, **kwargs):
        def call(x):
            raise RuntimeError("no C++ compiler")
        return call

    monkeypatch.setattr(torch, "compile", broken_compile)
    model = _model_with_statistics()
    engine = InferenceEngine(model, "running", backend="fast-fp32")
    x = _input()
    with pytest.warns(UserWarning, match="no C\\+\\+ compiler"):
        out = engine(x)
    assert not engine.compiled
    assert _relative_error(out, InferenceEngine(model, "running", backend="eager")(x)) < 1e-5


def test_backend_names_are_checked():
    assert set(BACKENDS) == {"eager", "bf16", "fast", "fast-fp32"}
    with pytest.raises(ValueError, match="backend"):
        SSPDMethod(None, backend="onnx")
    with pytest.raises(ValueError, match="backend"):
        InferenceEngine(SSPD(s3m=False), backend="tensorrt")
    with pytest.raises(ValueError, match="batchnorm"):
        SSPDMethod(None, batchnorm="frozen")
