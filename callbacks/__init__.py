"""Lightning callbacks: thin glue between the Trainer and the autointerp library."""
