"""The engine that runs models: training (one train step shared by every caller), evaluation over a set,
restoration of a user's photos (tiled or whole), checkpoints."""
