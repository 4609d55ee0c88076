#!/usr/bin/env bash
# One run on a GPU machine: CUDA f64 correctness of the DiffTaichi-kind programs, the ODE
# simulators and the 3x3 decompositions (tests/ with TIDAL_TEST_ARCH=cuda), then
# benchmarks/taichi_programs.py on CUDA. The machine has Python 3.12 without taichi: carry the
# wheels in .whl/ (git-ignored), fetched here with
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_27_x86_64 -d .whl taichi==1.7.4 dill
# and run `bash benchmarks/device_check.sh` with .whl carried; results land in $OUT.
set -o pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 TI_LOG_LEVEL=error
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/gpu.txt
python3 -c "import taichi as ti; ti.init(arch=ti.cuda); print('cuda ok', ti.lang.impl.current_cfg().arch)" 2>&1 | tail -2 | tee -a $OUT/gpu.txt
TIDAL_TEST_ARCH=cuda timeout 250 python3 -m pytest -q -p no:cacheprovider -n 6 --dist load \
  -o addopts="" -m "not slow" tests/test_programs.py tests/test_physics_ode.py tests/test_decompositions.py \
  -k "not example" 2>&1 | tail -40 | tee $OUT/tests.txt
timeout 270 python3 benchmarks/taichi_programs.py --arch cuda --rounds 1 --repeats 11 --only mass_spring_robot rigid_body billiards mls_mpm smoke wave electric volume_renderer mlp_controller plain_kernel_clear toi_contact 2>&1 | tee $OUT/bench.txt
