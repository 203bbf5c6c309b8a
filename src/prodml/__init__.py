"""prodml: the shared library every deployable packages.

Settings, naming, the data contract, S3 zone paths, AWS clients and the registry client live here.
Stage code (ETL, training, serving) lives beside its deployable and reaches other stages only through
S3 paths, manifests and the model registry.
"""

__version__ = "0.1.0"
