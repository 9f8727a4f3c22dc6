// cornerstone-core 2.x, cornerstone-tools 6.x and the WADO image loader ship no type declarations;
// the extension types the few calls it makes in types.ts.
declare module 'cornerstone-core';
declare module 'cornerstone-tools';
declare module 'cornerstone-math';
declare module 'hammerjs';
declare module 'cornerstone-wado-image-loader/dist/cornerstoneWADOImageLoaderNoWebWorkers.bundle.min.js';
