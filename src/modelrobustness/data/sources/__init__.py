"""One module per data source (``animal_mnist``, ``kaggle``, ``folder``), the Animals-10
class names and the download tally; ``modelrobustness.data.download`` picks one."""
