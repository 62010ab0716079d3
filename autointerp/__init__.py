"""autointerp: explain and score the latents of sparse autoencoders and transcoders with LLMs.

Importing the package is cheap and has no side effects; heavy libraries load where used.
"""

__version__ = "0.1.0"
