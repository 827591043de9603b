"""`python -m course.data`: print how long each generated data set takes to build."""
from course.data import generation_times

for name, seconds in generation_times().items():
    print(f"{name:<40}{seconds:6.2f} s")
