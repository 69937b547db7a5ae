"""Asyrp pieces on tiny models: h-space injection, f_t, the editor's intervals, artifacts, training, intervals."""

import pytest
import torch

from rayedit.config import AsyrpSpec, DirectionUse, ModelSpec
from rayedit.diffusion.ddim import ddim_invert, ddim_sample, make_timesteps
from rayedit.diffusion.hspace import capture_h, plain_and_edited_eps
from rayedit.editors.asyrp.artifact import load_direction, save_direction
from rayedit.editors.asyrp.delta import CombinedDelta, DeltaBlock, delta_for
from rayedit.editors.asyrp.editor import AsyrpEditor, DirectionMismatch, asyrp_from_spec
from rayedit.editors.asyrp.intervals import LpipsCurves, edit_interval_start, first_reaching, lpips_curves
from rayedit.models.load import load_diffusion
from rayedit.models.weights import model_hash


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return load_diffusion(ModelSpec(name="tiny"), device="cpu")


def _zero(h, temb):
    return torch.zeros_like(h)


def test_zero_delta_gives_the_plain_epsilon_twice(tiny):
    x = torch.randn(3, 3, 32, 32)
    eps, eps_edit = plain_and_edited_eps(tiny, x, 400, _zero)
    assert torch.allclose(eps, eps_edit, atol=1e-5)  # batch-size-dependent float32 kernels differ by ~1e-6
    assert torch.allclose(eps, tiny.eps_fn()(x, 400), atol=1e-5)


def test_one_batched_unet_call_and_gradients_reach_f(tiny):
    f = delta_for(tiny.unet)
    calls = []
    handle = tiny.unet.register_forward_pre_hook(lambda m, args: calls.append(args[0].shape[0]))
    try:
        eps, eps_edit = plain_and_edited_eps(tiny, torch.randn(2, 3, 32, 32), 600, f)
    finally:
        handle.remove()
    assert calls == [4]  # [plain; edited] in ONE call
    assert not torch.allclose(eps, eps_edit)
    eps_edit.sum().backward()
    assert f.conv_out.weight.grad is not None and f.conv_out.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in tiny.unet.parameters())  # the U-Net is not trained


def test_conditional_unet_h_space(tmp_path):
    m = load_diffusion(ModelSpec(name="tiny-latent"), device="cpu")
    x = torch.randn(2, 4, 16, 16)
    ctx = m.embed_prompts(["a cat", "a dog"])
    eps, eps_edit = plain_and_edited_eps(m, x, 500, _zero, context=ctx)
    assert torch.allclose(eps, eps_edit, atol=1e-5)  # batch-size-dependent float32 kernels differ by ~1e-6
    hs = []
    with capture_h(m.unet, hs):
        m.eps_fn(ctx)(x, 500)
    f = delta_for(m.unet)
    assert f(hs[0], torch.zeros(2, f.temb_channels)).shape == hs[0].shape


def test_editor_runs_a_text_conditioned_unet_on_the_empty_prompt():
    from rayedit.editors.asyrp.train import sample_images

    m = load_diffusion(ModelSpec(name="tiny-latent"), device="cpu")
    x0 = torch.randn(2, 4, 16, 16)
    ts = make_timesteps(4, 1000, "linspace")

    def ddim_with(prompt):
        eps = m.eps_fn(m.embed_prompts([prompt] * 2))
        return ddim_sample(eps, ddim_invert(eps, x0, ts, m.alphas_cumprod), ts, m.alphas_cumprod)

    ed = AsyrpEditor(m, [delta_for(m.unet)], [0.0], steps=4, t_edit=500, t_boost=0, train_steps=4, boost=False)
    out = ed(x0)
    ref = ddim_with("")
    assert torch.allclose(out, ref, atol=1e-5 * float(ref.abs().max()))  # random-weight outputs reach ~200
    assert not torch.allclose(out, ddim_with("a cat"), atol=1e-3)  # the context is the empty prompt's
    samples = sample_images(m, 3, steps=4, batch=2)
    assert samples.shape == (3, 4, 16, 16)  # in DDIM (latent) space, like the training images


def test_combined_delta_is_linear_in_strengths():
    f, g = DeltaBlock(64, 128), DeltaBlock(64, 128)
    h, temb = torch.randn(2, 64, 4, 4), torch.randn(2, 128)
    both = CombinedDelta([f, g], [0.5, -2.0], scale=2.0)(h, temb)
    assert torch.allclose(both, 2.0 * (0.5 * f(h, temb) - 2.0 * g(h, temb)), atol=1e-5)
    with pytest.raises(ValueError, match="one strength per direction"):
        CombinedDelta([f], [1.0, 2.0])


def test_editor_with_zero_strength_is_plain_ddim(tiny):
    x0 = torch.rand(2, 3, 32, 32) * 2 - 1
    ed = AsyrpEditor(tiny, [delta_for(tiny.unet)], [0.0], steps=6, t_edit=500, t_boost=0, train_steps=6,
                     boost=False)
    ts = make_timesteps(6, 1000, "linspace")
    eps = tiny.eps_fn()
    plain = ddim_sample(eps, ddim_invert(eps, x0, ts, tiny.alphas_cumprod), ts, tiny.alphas_cumprod)
    assert torch.allclose(ed(x0), plain, atol=1e-5 * float(plain.abs().max()))  # random-weight outputs reach ~400
    edited = AsyrpEditor(tiny, [delta_for(tiny.unet)], [1.0], steps=6, t_edit=500, t_boost=0, train_steps=6,
                         boost=False)(x0)
    assert not torch.allclose(edited, plain, atol=1e-3)


def test_editor_scales_dh_by_step_ratio(tiny):
    ed = AsyrpEditor(tiny, [delta_for(tiny.unet)], [1.0], steps=20, t_edit=500, t_boost=200, train_steps=40)
    assert ed.delta.scale == 2.0


def test_boosting_noise_is_seeded(tiny):
    x0 = torch.rand(1, 3, 32, 32) * 2 - 1
    f = delta_for(tiny.unet)

    def run(seed):
        return AsyrpEditor(tiny, [f], [1.0], steps=6, t_edit=600, t_boost=400, train_steps=6, seed=seed)(x0)

    assert torch.equal(run(1), run(1)) and not torch.equal(run(1), run(2))


def test_direction_artifact_round_trip_and_model_check(tiny, tmp_path):
    f = delta_for(tiny.unet)
    meta = {"model_id": "tiny", "model_hash": model_hash(tiny.unet), "steps": 8, "t_edit": 500, "t_boost": 200}
    save_direction(str(tmp_path / "d"), f, meta)
    g, got = load_direction(str(tmp_path / "d"))
    assert got["t_edit"] == 500 and all(torch.equal(a, b) for a, b in zip(f.state_dict().values(),
                                                                           g.state_dict().values(), strict=True))
    ed = asyrp_from_spec(tiny, AsyrpSpec(directions=[DirectionUse(url=str(tmp_path / "d"), strength=0.5)]), steps=4)
    assert (ed.t_edit, ed.t_boost, ed.delta.scale, ed.delta.strengths) == (500, 200, 2.0, [0.5])
    save_direction(str(tmp_path / "late"), f, meta | {"t_edit": 300, "t_max": 600})
    both = [DirectionUse(url=str(tmp_path / d)) for d in ("d", "late")]
    ed = asyrp_from_spec(tiny, AsyrpSpec(directions=both), steps=4)  # each on its own interval, their union
    assert ed.windows == [(500, 999), (300, 600)] and (ed.t_edit, ed.t_max) == (300, 999)
    ed = asyrp_from_spec(tiny, AsyrpSpec(directions=both, t_edit=400), steps=4)  # the job's t_edit: one interval
    assert ed.windows == [(400, 999), (400, 999)] and (ed.t_edit, ed.t_max) == (400, 999)
    save_direction(str(tmp_path / "validated"), f, meta | {"strength": 0.7})  # chosen on held-out pairs
    ed = asyrp_from_spec(tiny, AsyrpSpec(directions=[DirectionUse(url=str(tmp_path / "validated")),
                                                     DirectionUse(url=str(tmp_path / "validated"), strength=-1),
                                                     DirectionUse(url=str(tmp_path / "d"))]), steps=4)
    assert ed.strengths == ed.delta.strengths == [0.7, -1, 1.0]  # validated, given, neither
    other = load_diffusion(ModelSpec(name="tiny"), device="cpu", seed=1)
    with pytest.raises(DirectionMismatch, match="weights hash"):
        asyrp_from_spec(other, AsyrpSpec(directions=[DirectionUse(url=str(tmp_path / "d"))]), steps=4)
    with pytest.raises(FileNotFoundError, match="no Asyrp direction"):
        load_direction(str(tmp_path / "nothing"))


def test_interval_rules():
    ts = [0, 250, 500, 750]
    assert first_reaching(ts, [0.0, 0.1, 0.4, 0.9], 0.3) == 500
    assert first_reaching(ts, [0.0, 0.1, 0.2, 0.25], 0.3) == 750  # never reached: the last t
    curves = LpipsCurves(ts, [0.0, 0.1, 0.2, 0.3], [0.0, 0.5, 1.0, 1.3])
    # same prompts (cos 1): threshold 0.33; far prompts (cos 0.5): threshold 0.165 -> edit down to smaller t
    assert edit_interval_start(curves, 1.0) == 750 and edit_interval_start(curves, 0.5) == 500


def test_lpips_curves_walk_the_inversion(tiny):
    x0 = torch.rand(2, 3, 32, 32) * 2 - 1
    ts = make_timesteps(5, 1000, "linspace")
    c = lpips_curves(tiny, lambda a, b: (a - b).abs().mean(dim=(1, 2, 3)), x0, ts)
    assert c.timesteps == ts and len(c.to_predicted_x0) == len(c.to_noisy) == 5
    assert c.to_noisy[-1] > c.to_noisy[0]  # x_t drifts away from x as noise grows


def _h_blind(tiny) -> DeltaBlock:
    """An f_t whose dh depends on t only (conv_in zeroed): its mean over images is itself."""
    torch.manual_seed(3)
    f = delta_for(tiny.unet)
    with torch.no_grad():
        f.conv_in.weight.zero_()
        f.conv_in.bias.zero_()
        f.conv_out.weight.mul_(20)  # a visible edit
    return f.eval()


def test_mean_direction_of_an_h_independent_f_equals_per_image_editing(tiny):
    from rayedit.editors.asyrp.train import mean_deltas

    f = _h_blind(tiny)
    images = torch.rand(3, 3, 32, 32) * 2 - 1  # 3 images in batches of 2: the mean spans batches
    ts, mean_dh = mean_deltas(tiny, f, images, steps=4, t_edit=400, batch_size=2)
    assert ts == sorted(ts, reverse=True) and min(ts) >= 400 and mean_dh.shape[0] == len(ts)
    f.mean_dh = mean_dh
    kw = {"steps": 4, "t_edit": 400, "t_boost": 0, "train_steps": 4, "boost": False}
    per_image = AsyrpEditor(tiny, [f], [1.0], **kw)(images)
    mean = AsyrpEditor(tiny, [f], [1.0], mode="mean", mean_timesteps=ts, **kw)(images)
    assert torch.allclose(per_image, mean, rtol=1e-4, atol=1e-3)  # float sums in another order
    assert not torch.allclose(per_image, AsyrpEditor(tiny, [f], [0.0], **kw)(images), atol=1e-3)  # it does edit


def test_global_direction_is_one_shift_for_every_timestep_and_needs_saved_means(tiny, tmp_path):
    from rayedit.editors.asyrp.train import mean_deltas

    f = delta_for(tiny.unet).eval()
    ts, mean_dh = mean_deltas(tiny, f, torch.rand(2, 3, 32, 32) * 2 - 1, steps=4, t_edit=300)
    meta = {"model_id": "tiny", "steps": 4, "t_edit": 300, "t_boost": 0, "mean_dh_timesteps": ts}
    save_direction(str(tmp_path / "d"), f, meta, mean_dh)
    g, _ = load_direction(str(tmp_path / "d"))
    assert torch.equal(g.mean_dh, mean_dh)  # saved beside f_t, not mistaken for a weight
    spec = AsyrpSpec(directions=[DirectionUse(url=str(tmp_path / "d"), strength=-0.5)], mode="global")
    ed = asyrp_from_spec(tiny, spec, steps=4)
    shifts = list(ed.fixed.values())
    assert len(shifts) == len(ts) and all(torch.equal(s, shifts[0]) for s in shifts)
    assert torch.allclose(shifts[0], -0.5 * mean_dh.mean(0))
    save_direction(str(tmp_path / "old"), f, meta | {"mean_dh_timesteps": None})  # a direction without means
    with pytest.raises(DirectionMismatch, match="mean dh"):
        asyrp_from_spec(tiny, AsyrpSpec(directions=[DirectionUse(url=str(tmp_path / "old"))], mode="mean"), steps=6)


def test_target_images_learn_the_way_back(tiny, monkeypatch):
    """Batches of target images alternate with source batches and train dh = -f_t(h) on the reversed text direction."""
    from rayedit.editors.asyrp import train as train_mod
    from rayedit.models.clip import load_clip

    deltas, text_dirs = [], []
    real_eps, real_loss = train_mod.plain_and_edited_eps, train_mod.directional_clip_loss

    def spy_eps(model, x, t, delta, context=None, where="mid_block"):
        deltas.append(delta)
        return real_eps(model, x, t, delta, context, where)

    def spy_loss(clip, edited, src_emb, text_dir):
        text_dirs.append(text_dir.clone())
        return real_loss(clip, edited, src_emb, text_dir)

    monkeypatch.setattr(train_mod, "plain_and_edited_eps", spy_eps)
    monkeypatch.setattr(train_mod, "directional_clip_loss", spy_loss)
    settings = train_mod.AsyrpTrainSettings(steps=4, t_edit=500, batch_size=2, lambda_recon=1.0)
    images, targets = torch.rand(4, 3, 32, 32) * 2 - 1, torch.rand(4, 3, 32, 32) * 2 - 1
    f, info = train_mod.train_direction(tiny, load_clip("tiny"), images, "a red circle", "a blue circle", settings,
                                        progress=False, target_images=targets)
    per_batch = 2  # edit timesteps 999, 666
    assert info["target_images"] == 4 and len(info["history"]) == 4 * per_batch
    block = f
    assert isinstance(block, DeltaBlock)
    h, temb = torch.randn(2, f.channels, 8, 8), torch.randn(2, f.temb_channels)
    for k, (delta, text_dir) in enumerate(zip(deltas, text_dirs, strict=True)):
        reverse = (k // per_batch) % 2 == 1  # source, target, source, target
        with torch.no_grad():
            assert torch.allclose(delta(h, temb), -block(h, temb) if reverse else block(h, temb))
        assert torch.allclose(text_dir, -text_dirs[0] if reverse else text_dirs[0])


@pytest.mark.parametrize("preset, x_shape", [("tiny", (2, 3, 32, 32)), ("tiny-latent", (2, 4, 16, 16))])
def test_seeing_delta_reads_x_t_and_round_trips(preset, x_shape, tmp_path):
    from rayedit.editors.asyrp.delta import SeeingDeltaBlock

    m = load_diffusion(ModelSpec(name=preset), device="cpu")
    x = torch.randn(*x_shape)
    hs = []
    with capture_h(m.unet, hs):
        m.eps_fn(m.empty_prompt_context(2))(x, 500)
    h = hs[0]
    f = delta_for(m.unet, arch="seeing")
    assert isinstance(f, SeeingDeltaBlock)
    temb = torch.randn(2, f.temb_channels)
    dh = f(h, temb, x)
    assert dh.shape == h.shape
    assert not torch.allclose(dh, f(h, temb, torch.randn(*x_shape)))  # dh depends on x_t, not only on h
    with pytest.raises(ValueError, match="needs the noisy input x_t"):
        f(h, temb)
    assert delta_for(m.unet, zero_init=True, arch="seeing")(h, temb, x).abs().max() == 0
    save_direction(str(tmp_path / "d"), f, {"steps": 4})
    g, meta = load_direction(str(tmp_path / "d"))
    assert meta["arch"] == "seeing" and isinstance(g, SeeingDeltaBlock)
    assert torch.equal(g(h, temb, x), f.eval()(h, temb, x))


def test_t_max_limits_the_steps_that_get_dh(tiny):
    seen = []
    f = delta_for(tiny.unet)
    handle = f.register_forward_hook(lambda mod, args, out: seen.append(out.shape[0]))
    try:
        x0 = torch.rand(2, 3, 32, 32) * 2 - 1
        AsyrpEditor(tiny, [f], [1.0], steps=6, t_edit=300, t_boost=0, train_steps=6, boost=False)(x0)
        everywhere = len(seen)
        seen.clear()
        AsyrpEditor(tiny, [f], [1.0], steps=6, t_edit=300, t_boost=0, train_steps=6, boost=False, t_max=700)(x0)
    finally:
        handle.remove()
    assert (everywhere, len(seen)) == (4, 2)  # grid 999, 799, 599, 399 (>= 300): [300, 700] holds 599, 399


def test_paired_loss_is_zero_at_the_oracle_and_epsilon_weighted():
    from rayedit.editors.asyrp.losses import paired_p_loss

    p_src, x0, y = torch.randn(3, 2, 4, 4), torch.randn(3, 2, 4, 4), torch.randn(3, 2, 4, 4)
    assert paired_p_loss(p_src + (y - x0), p_src, x0, y, 0.3) == 0
    off = p_src + (y - x0) + 0.1
    assert torch.isclose(paired_p_loss(off, p_src, x0, y, 0.5), torch.tensor(0.01))  # a/(1-a) = 1
    assert torch.isclose(paired_p_loss(off, p_src, x0, y, 0.2), torch.tensor(0.0025))  # a/(1-a) = 1/4


def test_reverse_pairs_learn_from_each_target_back_to_its_source(tiny, monkeypatch):
    """With reverse_pairs, target batches alternate with source batches: dh = -f_t(h), and the loss asks the
    target's P_t to move by (source - target)."""
    from rayedit.editors.asyrp import train as train_mod
    from rayedit.models.clip import load_clip

    deltas, ends = [], []
    real_eps, real_loss = train_mod.plain_and_edited_eps, train_mod.paired_p_loss

    def spy_eps(model, x, t, delta, context=None, where="mid_block"):
        deltas.append(delta)
        return real_eps(model, x, t, delta, context, where)

    def spy_loss(p_edit, p_src, x0, y, alpha_bar):
        ends.append((x0.clone(), y.clone()))
        return real_loss(p_edit, p_src, x0, y, alpha_bar)

    monkeypatch.setattr(train_mod, "plain_and_edited_eps", spy_eps)
    monkeypatch.setattr(train_mod, "paired_p_loss", spy_loss)
    settings = train_mod.AsyrpTrainSettings(steps=4, t_edit=500, batch_size=2)
    images, targets = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    f, info = train_mod.train_direction(tiny, load_clip("tiny"), images, "a red circle", "a blue circle", settings,
                                        progress=False, paired_targets=targets, reverse_pairs=True)
    assert info["reverse_pairs"] is True and len(info["history"]) == 2 * 2  # 1 forward + 1 back batch x 2 steps
    h, temb = torch.randn(2, f.channels, 8, 8), torch.randn(2, f.temb_channels)
    for k, (delta, (x0, y)) in enumerate(zip(deltas, ends, strict=True)):
        back = k >= 2
        with torch.no_grad():
            assert torch.allclose(delta(h, temb), -f(h, temb) if back else f(h, temb))
        assert torch.equal(x0, targets if back else images) and torch.equal(y, images if back else targets)
    with pytest.raises(ValueError, match="reverse_pairs needs paired_targets"):
        train_mod.train_direction(tiny, load_clip("tiny"), images, "a", "b", settings, reverse_pairs=True)


def test_combined_directions_each_edit_on_their_own_interval(tiny):
    """Two directions trained on different [t_edit, t_max]: each f_t runs only at its own timesteps."""
    seen = {"a": [], "b": []}
    fa, fb = delta_for(tiny.unet), delta_for(tiny.unet)
    handles = [f.register_forward_hook(lambda mod, args, out, k=k: seen[k].append(int(args[1].shape[0])))
               for k, f in (("a", fa), ("b", fb))]
    calls = []
    real_combined = CombinedDelta.forward

    def spy(self, h, temb, x=None, active=None):
        calls.append(active)
        return real_combined(self, h, temb, x, active)

    try:
        CombinedDelta.forward = spy
        editor = AsyrpEditor(tiny, [fa, fb], [1.0, 1.0], steps=6, t_edit=300, t_boost=0, train_steps=6, boost=False,
                             windows=[(300, 700), (500, None)])  # grid 999, 799, 599, 399
        assert (editor.t_edit, editor.t_max) == (300, 999)
        editor(torch.rand(2, 3, 32, 32) * 2 - 1)
    finally:
        CombinedDelta.forward = real_combined
        for hd in handles:
            hd.remove()
    assert calls == [[False, True], [False, True], [True, True], [True, False]]  # 999, 799, 599, 399
    assert (len(seen["a"]), len(seen["b"])) == (2, 3)
