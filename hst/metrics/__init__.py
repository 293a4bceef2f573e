"""Scoring: the protocols' PSNR/SSIM as pure float64 functions (``protocols``), scoring of saved
restorations (``score``), and the statistics over seeds (``stats``: means with 95% CIs, paired differences)."""
