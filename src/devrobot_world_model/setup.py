from setuptools import find_packages, setup

package_name = 'devrobot_world_model'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
    ],
    install_requires=['setuptools', 'numpy', 'torch', 'torchvision', 'timm'],
    zip_safe=True,
    maintainer='devrobot developers',
    maintainer_email='dev@devrobot.invalid',
    description='Online world model of the camera view that explores where it is least sure.',
    license='Apache-2.0',
    extras_require={'test': ['pytest']},
    entry_points={
        'console_scripts': [
            'world_model_node = devrobot_world_model.node.world_model_node:main',
        ],
    },
)
