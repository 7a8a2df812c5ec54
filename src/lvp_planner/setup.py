from glob import glob

from setuptools import find_packages, setup

package_name = 'lvp_planner'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/accelerate_configs',
         glob('lvp_planner/accelerate_configs/*.yaml')),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='LVP developers',
    maintainer_email='lvp@example.org',
    description=('LVP video planner: Wan 2.1 I2V sampling with diffusion forcing and history '
                 'guidance, as an action server.'),
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'demonstration_planner = lvp_planner.demonstration_node:main',
            'lvp_dataset = lvp_planner.dataset_cli:main',
            'lvp_finetune = lvp_planner.finetune_cli:main',
            'lvp_plan = lvp_planner.cli:main',
            'lvp_plan_serve = lvp_planner.serve:main',
            'video_planner = lvp_planner.planner_node:main',
        ],
    },
)
