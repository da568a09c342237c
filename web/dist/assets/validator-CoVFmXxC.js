import{b3 as i}from"./index-DuVRleyX.js";const n=o=>["",...i].includes(o);export{n as i};
