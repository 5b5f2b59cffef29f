"""Per-part drivers that one rule calls: PTQ variant rows, the toy seq2seq task, matmul counting, dwconv step timing."""
