"""Where in the book each judge sends the student (shown with every failure)."""

CH1 = "Chapter 1 (Probabilistic modelling and maximum likelihood)"
CH2 = "Chapter 2 (Latent-variable models)"
CH3 = "Chapter 3 (Auto encoders and PCA)"
CH4 = "Chapter 4 (Variational auto encoders)"
CH5 = "Chapter 5 (The ELBO)"
CH6 = "Chapter 6 (The reparameterization trick)"
BOOK = "the book"
