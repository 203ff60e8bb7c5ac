"""Transport-free handlers shared by every protocol (our REST API, TF Serving REST, KServe V2)."""
