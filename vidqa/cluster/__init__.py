"""Beyond one machine: `vidqa index DIR... --ray [ADDRESS]` runs each video's stages as Ray
tasks (`vidqa.cluster.driver`, what runs on the workers: `vidqa.cluster.tasks`) and shares the
pool of model servers' accounts and the job's progress through actors (`vidqa.cluster.shared`).

Ray is an optional extra (`pip install 'vidqa[ray]'`); nothing here imports it until a job
starts.
"""

from vidqa.cluster.driver import LOCAL, connect, run_on_ray

__all__ = ["LOCAL", "connect", "run_on_ray"]
