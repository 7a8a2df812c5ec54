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

# ROS 2 Jazzy's launch, launch_ros, launch_testing and ros2cli (wheels built from the Jazzy
# sources) and composition_interfaces: the launch tests run the real tools. Test setup only: a ROS
# user has them from the ROS install, and none of it is in requirements/.
LVP_SHARED_DIR ?= $(abspath ../shared)
ROS2_LAUNCH := $(LVP_SHARED_DIR)/ros2-launch
ROS2_LAUNCH_WHEELS := $(wildcard $(ROS2_LAUNCH)/wheels/*.whl)

.PHONY: venv test-env test lint typecheck pytest demo workspace-build clean

# what the product needs (the demo, the nodes, the Unitree backend)
venv: $(STAMP) $(VENV)/.lvp-ament-prefix $(VENV)/.lvp-interfaces $(VENV)/.lvp-assets $(VENV)/.lvp-cyclonedds

# what only the tests need
test-env: venv $(VENV)/.lvp-dev $(VENV)/.lvp-test-fixtures $(VENV)/.lvp-launch-tools \
	$(VENV)/.lvp-composition-interfaces

# linters, pytest and the test-only readers (after torch: some need it)
$(VENV)/.lvp-dev: $(STAMP) requirements/dev.txt
	$(BIN)/python -m pip install -q -r requirements/dev.txt
	touch $@

$(STAMP): requirements/torch.txt requirements/ros-jazzy.txt requirements/python.txt \
		$(foreach p,$(PY_PACKAGES),src/$(p)/setup.py)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements/torch.txt
	$(BIN)/python -m pip install -q -r requirements/ros-jazzy.txt -r requirements/python.txt
	$(BIN)/python tools/fix_ros_wheel_cmake.py
	$(BIN)/python -m pip install -q --no-deps $(foreach p,$(PY_PACKAGES),-e src/$(p))
	touch $@

# The venv is the ament prefix of the wheels and of lvp_interfaces, and example-robot-data (cmeel)
# keeps its ament index in site-packages/cmeel.prefix: the .pth appends both to AMENT_PREFIX_PATH
# in every venv Python process (ament_index lookups, launch's FindPackageShare).
$(VENV)/.lvp-ament-prefix: $(STAMP) tools/lvp_ament_prefix.pth
	cp tools/lvp_ament_prefix.pth $$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/
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

$(VENV)/.lvp-launch-tools: $(STAMP) $(ROS2_LAUNCH_WHEELS)
	@test -n "$(ROS2_LAUNCH_WHEELS)" || { echo "no ROS 2 launch wheels in $(ROS2_LAUNCH)/wheels:" \
		"set LVP_SHARED_DIR to the folder that holds ros2-launch/"; exit 1; }
	$(BIN)/python -m pip install -q --no-deps $(ROS2_LAUNCH_WHEELS) osrf-pycommon==2.0.2 xacro
	touch $@

$(VENV)/.lvp-composition-interfaces: $(VENV)/.lvp-interfaces $(VENV)/.lvp-launch-tools
	. $(BIN)/activate && AMENT_PREFIX_PATH=$(abspath $(VENV)) CMAKE_PREFIX_PATH=$(abspath $(VENV)) \
		colcon --log-base build/log build --paths $(ROS2_LAUNCH)/src/composition_interfaces \
		--merge-install --build-base build/ros2-launch --install-base $(VENV) \
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

lint: $(VENV)/.lvp-dev
	$(BIN)/ruff check src test tools launch

typecheck: test-env
	$(BIN)/pyright

# the launch tests run `ros2 launch lvp_bringup ...` on the workspace-build install
pytest: test-env workspace-build
	$(TEST_ENV) $(BIN)/python -m pytest

test: lint typecheck workspace-build pytest

# The whole workspace as a ROS user builds it (colcon, ament_cmake + ament_python), into build/ws.
workspace-build: venv
	. $(BIN)/activate && AMENT_PREFIX_PATH=$(abspath $(VENV)) CMAKE_PREFIX_PATH=$(abspath $(VENV)) \
		colcon --log-base build/log build --build-base build/ws/build --install-base build/ws/install \
		--cmake-args -DPython3_EXECUTABLE=$(abspath $(BIN))/python -DBUILD_TESTING=OFF \
		--event-handlers console_direct- summary+

demo: $(STAMP) $(VENV)/.lvp-ament-prefix $(VENV)/.lvp-interfaces $(VENV)/.lvp-assets
	$(BIN)/lvp demo

clean:
	rm -rf build $(VENV)
