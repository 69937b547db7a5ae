"""toy-sd: a Stable-Diffusion-layout pipeline (AutoencoderKL + UNet2DConditionModel + CLIPTextModel + CLIPTokenizer
+ scheduler) trained on the v2 toy world (:mod:`rayedit.toy.scenes`)."""
