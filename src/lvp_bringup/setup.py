from glob import glob

from setuptools import find_packages, setup

package_name = 'lvp_bringup'

# launch/, config/ and rviz/ live at the top of the repository; the links in this package
# let `ros2 launch lvp_bringup <file>` find them in the package's share folder.
setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/launch', glob('launch/*.py')),
        ('share/' + package_name + '/config', glob('config/*.yaml')),
        ('share/' + package_name + '/rviz', glob('rviz/*.rviz')),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='LVP developers',
    maintainer_email='lvp@example.org',
    description='PlanAndExecute orchestration, launch files, RViz configs, plan archive replay '
                'and the lvp tool.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'lvp = lvp_bringup.cli:main',
            'lvp_eval = lvp_bringup.eval_cli:main',
            'plan_and_execute = lvp_bringup.plan_and_execute_node:main',
        ],
    },
)
