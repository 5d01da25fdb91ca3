"""GAN loss terms: adversarial losses, regularisers and differentiable augmentation, as pure functions."""
