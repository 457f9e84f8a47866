"""Stage `split`: de-duplicate, split stratified and resize into data/prepared/."""

from modelrobustness.pipeline.split import main

if __name__ == "__main__":
    main()
