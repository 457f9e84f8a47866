"""Stage `squeeze_detect`: the feature-squeezing detector on the baseline, plain and adaptive."""

from modelrobustness.pipeline.detect import main

if __name__ == "__main__":
    main()
