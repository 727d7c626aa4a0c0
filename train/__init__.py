"""Training for streamproc's face generator (Pix2Pix: U-Net + PatchGAN)."""
