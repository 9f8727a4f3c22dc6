"""carpus training package: hand segmenter and RidgeNet (bone age)."""
