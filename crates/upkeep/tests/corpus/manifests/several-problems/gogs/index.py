"""A harmless module that exists so only the intended error fires."""


def main(args=None):
    pass
