import{b3 as i}from"./index-Bi6nc7PA.js";const n=o=>["",...i].includes(o);export{n as i};
