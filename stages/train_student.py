"""Stage `train_student`: trained on the teacher's soft labels at T, deployed at T = 1."""

from modelrobustness.pipeline.distill import train_student

if __name__ == "__main__":
    train_student()
