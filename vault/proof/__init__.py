"""Reading evidence back and exporting self-contained proof folders."""
