"""LGA + MDM views (sspd.augment)."""
import cv2
import numpy as np
import pytest
import torch

from sspd.augment import AugmentConfig, frame_differences, local_global_views, resize_frames

from conftest import random_frames


def _clip(B=2, T=6, S=151, seed=0):
    """A batch of B random uint8 clips of T + 1 frames of S x S, as a torch tensor."""
    return torch.from_numpy(random_frames((B, T + 1, S, S, 3), seed))


def _views(clip, seed=0, return_params=False, **kw):
    g = torch.Generator().manual_seed(seed)
    return local_global_views(clip, AugmentConfig(**kw), g, return_params=return_params)


def test_shapes_dtype_and_scale():
    clip = _clip(B=2, T=6)
    v_m, v_o = _views(clip)
    assert v_m.shape == v_o.shape == (2, 3, 6, 128, 128)
    assert v_m.dtype == v_o.dtype == torch.float32
    # raw integer differences: integral values within +-255
    for v in (v_m, v_o):
        assert torch.equal(v, v.round()) and v.abs().max() <= 255 and v.abs().max() > 100


def test_frame_differences_exact_int():
    f = np.zeros((3, 2, 2, 3), np.uint8)
    f[1] = 255
    f[2, 0, 0, 2] = 7
    d = frame_differences(f)
    assert d.shape == (3, 2, 2, 2)           # (C, T, H, W)
    assert d[0, 0, 0, 0] == 255 and d[0, 1, 0, 0] == -255
    assert d[2, 1, 0, 0] == 7 - 255


def test_mask_rate_shared_over_channels_student_only():
    clip = _clip(B=2, T=8)
    v_m, v_o = _views(clip, flips=False, crop="topleft")
    ref_m, _ = _views(clip, flips=False, crop="topleft", mask_keep=1.0)
    # every value is either kept unchanged or zeroed
    assert torch.all((v_m == ref_m) | (v_m == 0))
    # where all three reference channels are non-zero, the mask decision is visible per channel
    full = (ref_m != 0).all(dim=1)                      # (B, T, H, W)
    kept = (v_m == ref_m) & (ref_m != 0)                # (B, 3, T, H, W)
    kept_all = kept.all(dim=1)[full]
    kept_any = kept.any(dim=1)[full]
    assert torch.equal(kept_all, kept_any)              # shared over channels
    assert abs(kept_all.float().mean().item() - 0.7) < 0.02
    # fresh mask per difference frame: the per-frame keep patterns differ
    assert not torch.equal(v_m[0, :, 0] == 0, v_m[0, :, 1] == 0)
    # the teacher is never masked: it equals resize -> differences exactly
    assert torch.equal(v_o, frame_differences(resize_frames(clip, 128, "area")))


def test_topleft_crop_and_no_flip():
    clip = _clip(B=1, T=3)
    v_m, _ = _views(clip, crop="topleft", flips=False, mask_keep=1.0)
    assert torch.equal(v_m, frame_differences(clip[:, :, :128, :128]))


def test_random_crop_is_a_native_scale_window():
    clip = _clip(B=3, T=2)
    v_m, _ = _views(clip, crop="random", flips=False, mask_keep=1.0, seed=5)
    full = frame_differences(clip)  # (B, 3, T, 151, 151)
    offsets = set()
    for b in range(3):
        hit = [(y, x) for y in range(24) for x in range(24)
               if torch.equal(full[b, :, :, y:y + 128, x:x + 128], v_m[b])]
        assert len(hit) == 1
        offsets.add(hit[0])
    assert len(offsets) > 1  # offsets differ between clips


def test_flips_independent_per_view_and_clip():
    clip = _clip(B=16, T=1)
    cfg = dict(crop="topleft", mask_keep=1.0)
    v_m, v_o = _views(clip, seed=3, **cfg)
    d_local = frame_differences(clip[:, :, :128, :128])
    d_glob = frame_differences(resize_frames(clip, 128, "area"))

    def flip_state(v, ref):
        for h in (False, True):
            for vv in (False, True):
                r = ref
                if h:
                    r = r.flip(-1)
                if vv:
                    r = r.flip(-2)
                if torch.equal(v, r):
                    return (h, vv)
        raise AssertionError("view is not a flip of the reference")

    s_m = [flip_state(v_m[b], d_local[b]) for b in range(16)]
    s_o = [flip_state(v_o[b], d_glob[b]) for b in range(16)]
    assert len(set(s_m)) > 1 and len(set(s_o)) > 1
    assert s_m != s_o  # student and teacher flips are drawn independently


def test_seeded_determinism():
    clip = _clip(B=2, T=4)
    a = _views(clip, seed=11)
    b = _views(clip, seed=11)
    c = _views(clip, seed=12)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_teacher_resize_equals_inference_resize():
    """The teacher view and inference use the same uint8 cv2 INTER_AREA resize."""
    import sspd.inference as inf  # inference must use the very same resize as the teacher view

    clip = _clip(B=1, T=3)
    _, v_o = _views(clip, flips=False)
    frames = clip[0].numpy()
    manual = np.stack([cv2.resize(f, (128, 128), interpolation=cv2.INTER_AREA) for f in frames])
    assert np.array_equal(inf.resize_frames(frames, 128, "area"), manual)
    assert inf.SSPDMethod(None).interp == AugmentConfig().resize_interp == "area"
    assert torch.equal(v_o[0], frame_differences(manual))


def test_bicubic_differs_and_bad_config_rejected():
    clip = _clip(B=1, T=2)
    assert not np.array_equal(resize_frames(clip, 128, "area"), resize_frames(clip, 128, "bicubic"))
    with pytest.raises(ValueError):
        AugmentConfig(crop="center")
    with pytest.raises(ValueError):
        AugmentConfig(mask_keep=0)
    with pytest.raises(TypeError):
        local_global_views(clip.float(), AugmentConfig(), torch.Generator())


def test_return_params_leaves_views_and_stream_unchanged():
    """Asking for the draws changes nothing: bit-identical views, same generator state after."""
    clip = _clip(B=3, T=4)
    for kw in ({}, dict(crop="topleft"), dict(flips=False), dict(mask_keep=1.0)):
        g_plain, g_params = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
        plain = local_global_views(clip, AugmentConfig(**kw), g_plain)
        *views, params = local_global_views(clip, AugmentConfig(**kw), g_params, return_params=True)
        assert len(plain) == 2 and len(views) == 2
        assert torch.equal(plain[0], views[0]) and torch.equal(plain[1], views[1])
        assert torch.equal(torch.rand(4, generator=g_plain), torch.rand(4, generator=g_params))
        assert params.crop_offsets.shape == (3, 2) and params.mask_keep_fraction.shape == (3,)
        assert params.student_flips.shape == params.teacher_flips.shape == (3, 2)
        assert params.student_flips.dtype == params.teacher_flips.dtype == np.bool_


def test_returned_params_reproduce_the_views():
    """Crop offsets and flips returned are the ones applied; the keep fraction is the mask's."""
    B, size = 8, 128
    clip = _clip(B=B, T=2)
    v_m, v_o, p = _views(clip, seed=4, mask_keep=1.0, return_params=True)
    assert len({tuple(o) for o in p.crop_offsets}) > 1 and (p.crop_offsets <= 151 - size).all()
    glob = resize_frames(clip, size, "area")
    for b in range(B):
        oy, ox = p.crop_offsets[b]
        local = clip[b:b + 1, :, oy:oy + size, ox:ox + size]
        for view, ref, (fh, fv) in ((v_m, local, p.student_flips[b]),
                                    (v_o, glob[b:b + 1], p.teacher_flips[b])):
            d = frame_differences(ref)[0]                  # (3, T, H, W)
            d = d.flip(-1) if fh else d
            d = d.flip(-2) if fv else d
            assert torch.equal(view[b], d)
    assert p.student_flips.any() and not p.student_flips.all()
    np.testing.assert_array_equal(p.mask_keep_fraction, np.ones(B))
    # topleft crop: offsets are all zero; no flips: all False
    _, _, q = _views(clip, crop="topleft", flips=False, return_params=True)
    assert not q.crop_offsets.any() and not q.student_flips.any() and not q.teacher_flips.any()


def test_returned_keep_fraction_is_the_realised_mask():
    # every difference is +1, so a zero in the student view is exactly a masked pixel
    ramp = np.broadcast_to(np.arange(5, dtype=np.uint8)[None, :, None, None, None], (2, 5, 151, 151, 3))
    v_m, _, p = _views(torch.from_numpy(ramp.copy()), seed=9, mask_keep=0.7, return_params=True)
    kept = (v_m[:, 0] != 0).flatten(1).double().mean(dim=1).numpy()
    np.testing.assert_allclose(p.mask_keep_fraction, kept, rtol=0, atol=1e-12)
    assert np.all(np.abs(p.mask_keep_fraction - 0.7) < 0.01)
    assert p.mask_keep_fraction[0] != p.mask_keep_fraction[1]
