"""The evaluation harness behind `mmsearch eval`: ranking metrics and good-match thresholds for
photo and sound search on labelled sets, and word error rates of the transcribers."""
