"""Data for `mmsearch demo` and the tests: sample photos from packages, and a generated product
catalogue made from Fashion-MNIST."""
