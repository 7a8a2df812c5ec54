from setuptools import find_packages, setup

package_name = 'lvp_hand_tracking'

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
    description='Per-frame 3D hand tracks from a video plan (MediaPipe hand landmarker).',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'lvp_track = lvp_hand_tracking.cli:main',
            'hand_tracking_node = lvp_hand_tracking.tracking_node:main',
        ],
    },
)
