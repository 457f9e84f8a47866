"""Stage `download`: fetch the configured data source into data/raw/<class>/."""

from modelrobustness.pipeline.download import main

if __name__ == "__main__":
    main()
