from setuptools import find_packages, setup

package_name = 'lvp_sim'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='LVP developers',
    maintainer_email='lvp@example.org',
    description='MuJoCo tabletop world, synthetic human-hand demonstrations with ground truth, '
                'task checks.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
        ],
        # lvp_exec finds its MuJoCo backend and its default surroundings here (lvp_exec.plugins)
        'lvp_exec.backends': ['sim = lvp_sim.mujoco_executor:make_sim_executor'],
        'lvp_exec.workcells': ['default = lvp_sim.world_obstacles:world_workcell'],
    },
)
